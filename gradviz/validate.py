"""Input checks that fail early with a message saying what was expected."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax


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


def check_network_args(sizes: dict, scales: dict) -> None:
    """The arguments that shape a network, checked in order: ValueError unless every size
    {name: (value, largest)} is an integer in [1, largest] and every scale {name: value}
    a finite number >= 0 (`check_int_range`, `check_positive`)."""
    for what, (value, largest) in sizes.items():
        check_int_range(what, value, 1, largest)
    for what, value in scales.items():
        check_positive(what, value, allow_zero=True)


def is_traced(value) -> bool:
    """Whether `value` is a JAX tracer (inside jit, vmap or grad): its numbers are not
    known yet, so checks of them must wait for (or be done by) the caller."""
    return isinstance(value, jax.core.Tracer)


def check_array(what: str, x, ndim: int, last_dim: int | None = None, shape_doc: str = ""):
    """`x` as an array with `ndim` dimensions (and last dimension `last_dim`)."""
    shape = np.shape(x)
    doc = f" {shape_doc}" if shape_doc else ""
    if len(shape) != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions{doc}, got shape {shape}")
    if last_dim is not None and shape[-1] != last_dim:
        raise ValueError(f"{what} must have last dimension {last_dim}{doc}, got shape {shape}")
    if is_traced(x):  # inside jit or vmap: values are not known yet
        return x
    dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{what} must hold floating-point numbers, got dtype {dtype}")
    if not np.all(np.isfinite(np.asarray(x, dtype=np.float32))):
        raise ValueError(f"{what} contains NaN or inf; expected finite numbers (an overflow "
                         "inside the network is reported, not raised; its input must be clean)")
    return x


def check_transform(what: str, transform) -> None:
    """ValueError unless `transform` is an optax GradientTransformation."""
    if not isinstance(transform, optax.GradientTransformation):
        hint = " (call it: optax.sgd(0.1), not optax.sgd)" if callable(transform) else ""
        raise ValueError(
            f"{what} must be an optax GradientTransformation such as optax.sgd(0.1){hint}, "
            f"got {transform!r}"
        )


# --------------------------------------------------------------------------- attributions


def check_finite_input(x) -> jax.Array:
    """x (any shape) as a floating-point array with finite values (ValueError otherwise)."""
    return jnp.asarray(check_array("x", x, np.ndim(x)))


def check_scalar_function(f: Callable, x: jax.Array) -> None:
    """ValueError unless f is callable and maps x (one input, any shape) to a
    floating-point scalar; checked on shapes only (jax.eval_shape), nothing is run."""
    if not callable(f):
        raise ValueError(f"f must be a function of one input x returning a scalar, got {f!r}")
    out = jax.eval_shape(f, x)
    if not hasattr(out, "shape") or out.shape != ():
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError("f must return a scalar (one number, e.g. the logit of one class: "
                         f"lambda x: logits(x)[c]), got shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"f must return a floating-point scalar, got dtype {out.dtype}")


def check_baseline(baseline, x: jax.Array) -> jax.Array:
    """The baseline as an array of x's shape and dtype; zeros when None."""
    if baseline is None:
        return jnp.zeros_like(x)
    if np.shape(baseline) != x.shape:
        raise ValueError(f"baseline must have x's shape {x.shape}, got shape "
                         f"{np.shape(baseline)}")
    check_array("baseline", baseline, x.ndim)
    return jnp.asarray(baseline, x.dtype)


def check_key(key) -> None:
    """ValueError unless `key` is a JAX random key (typed, or a raw uint32 pair)."""
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    raw = np.shape(key) == (2,) and getattr(key, "dtype", None) == jnp.uint32
    if not (typed or raw):
        raise ValueError("key must be a JAX random key such as jax.random.PRNGKey(0), "
                         f"got {key!r}")
