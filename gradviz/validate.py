"""Input checks that fail early with a message saying what was expected."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def check_choice(what: str, value, choices: Sequence) -> int:
    """The index of `value` in `choices`; ValueError listing the valid choices otherwise."""
    if value not in choices:
        valid = ", ".join(map(str, choices))
        raise ValueError(f"unknown {what} {value!r}; expected one of: {valid}")
    return list(choices).index(value)


def check_int_range(what: str, value, low: int, high: int) -> int:
    """`value` as an int in [low, high]; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be in [{low}, {high}], got {value}")
    return int(value)


def check_float_range(what: str, value, low: float, high: float) -> float:
    """`value` as a float in [low, high]; ValueError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in [{low}, {high}], got {value!r}") from None
    if not low <= number <= high:  # also rejects NaN
        raise ValueError(f"{what} must be in [{low}, {high}], got {value!r}")
    return number


def check_positive(what: str, value, allow_zero: bool = False) -> float:
    """`value` as a finite float > 0 (or >= 0); ValueError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    ok = number >= 0 if allow_zero else number > 0
    if not (np.isfinite(number) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number {bound}, got {value!r}")
    return number


def check_array(what: str, x, ndim: int, last_dim: int | None = None, shape_doc: str = ""):
    """`x` as an array with `ndim` dimensions (and last dimension `last_dim`)."""
    shape = np.shape(x)
    doc = f" {shape_doc}" if shape_doc else ""
    if len(shape) != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions{doc}, got shape {shape}")
    if last_dim is not None and shape[-1] != last_dim:
        raise ValueError(f"{what} must have last dimension {last_dim}{doc}, got shape {shape}")
    if isinstance(x, jax.core.Tracer):  # inside jit or vmap: values are not known yet
        return x
    dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{what} must hold floating-point numbers, got dtype {dtype}")
    if not np.all(np.isfinite(np.asarray(x, dtype=np.float32))):
        raise ValueError(f"{what} contains NaN or inf; expected finite numbers (an overflow "
                         "inside the network is reported, not raised; its input must be clean)")
    return x
