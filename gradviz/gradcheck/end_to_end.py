"""Checking a whole gradient against central differences: `check_gradients`, and the
step-size U-curve of `step_size_sweep`.

For each checked coordinate i (and each random unit direction v) f is evaluated at
p +- eps e_i, all in one vectorised pass; `gradviz.gradcheck.errors` judges the result.
"""

import warnings
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from gradviz.gradcheck.errors import (
    PASSING,
    CoordinateChecks,
    judge_coordinates,
    relative_error,
)
from gradviz.gradcheck.evaluation import (
    check_params,
    evaluate,
    flat_problem,
    path_name,
    precision_scope,
    random_directions,
    resolve_precision,
    sample,
)
from gradviz.gradcheck.report import (
    GradCheckReport,
    StepSweep,
    directional_check,
    leaf_row,
    worst_row,
)
from gradviz.validate import check_int_range

EPS_GRID = np.logspace(-12, 0, 49)  # step_size_sweep's steps: 10^-12 ... 1, four per decade


def check_gradients(
    f: Callable,
    params,
    *args,
    grads=None,
    eps: float | None = None,
    dtype: str = "float64",
    max_coordinates: int | None = 1000,
    n_directions: int = 8,
    seed: int = 0,
    stacked: Sequence[str] = (),
) -> GradCheckReport:
    """Check the gradient of f(params, *args) -> scalar against central differences.

    params: any pytree of float arrays. grads: the gradient to check, a pytree shaped
    like params or a function grads(params, *args) returning one (computed in the
    check's dtype); None checks jax.grad(f). eps: the step (default 1e-5 in float64,
    1e-2 in float32). Every coordinate of a leaf is checked when it has at most
    `max_coordinates` (None: always), else a sample of that many, drawn with `seed`;
    plus `n_directions` random directions through all parameters at once. Floating
    args are cast to `dtype`, others (integer labels) are passed as they are.
    stacked: names of leaves whose leading axis stacks layers (the gradviz MLP's "W" and
    "b"): they get one row per layer, "W[0]", "W[1]", ..., so that a vanished layer's
    coordinates are judged on their own, not hidden among those of healthy layers.
    Coordinates too small to resolve are "unresolved": judged neither way.
    """
    dtype, eps = resolve_precision(dtype, eps)
    leaves = check_params(params)
    if max_coordinates is not None:
        check_int_range("max_coordinates", max_coordinates, 1, 10**9)
    check_int_range("n_directions", n_directions, 1, 10_000)
    if dtype == "float32":
        warnings.warn("checking in float32: round-off limits the numerical gradient to about "
                      "1e-4 relative accuracy at best, so an error counts as good below 1e-3 "
                      "(1e-7 in float64, the default).", stacklevel=2)
    rng = np.random.default_rng(seed)
    parts = _row_parts(leaves, tuple(stacked))  # (name, shape, offset into theta) per row
    local = [sample(int(np.prod(shape, dtype=np.int64)), max_coordinates, rng)
             for _, shape, _ in parts]
    k = sum(len(idx) for idx in local)
    # every coordinate (index >= 0) and every direction (index -1, row r): one pass
    index = np.concatenate([offset + idx for (_, _, offset), idx in zip(parts, local,
                                                                         strict=True)]
                           + [np.full(n_directions, -1)])
    row = np.concatenate([np.zeros(k, int), np.arange(n_directions)])
    directions = random_directions(rng, sum(int(np.size(leaf)) for _, leaf in leaves),
                                   n_directions)
    with precision_scope(dtype):
        flat = flat_problem(f, params, args, grads, dtype)
        directions_dev = jnp.asarray(directions, flat.theta.dtype)
        plus, minus = evaluate(flat, directions_dev, index, row, np.full(len(index), eps))

        def second_step(which):
            return evaluate(flat, directions_dev, index[which], row[which],
                            np.full(int(which.sum()), 2 * eps))

        analytic = np.concatenate([flat.analytic[index[:k]], directions @ flat.analytic])
        judged = judge_coordinates(analytic, plus, minus, flat.value, eps, dtype,
                                   flat.analytic_dtype, second_step)
    rows, coordinates, start = [], {}, 0
    for (name, shape, _), idx in zip(parts, local, strict=True):
        part = slice(start, start + len(idx))
        start += len(idx)
        coordinates[name] = CoordinateChecks(idx, **{f: v[part] for f, v in judged.items()})
        rows.append(leaf_row(name, shape, coordinates[name], flat.analytic_dtype))
    along = CoordinateChecks(np.arange(n_directions), **{f: v[k:] for f, v in judged.items()})
    directional = directional_check(along, flat.analytic_dtype)
    passed = all(r.passed for r in rows) and directional.verdict in PASSING
    return GradCheckReport(passed, tuple(rows), worst_row(rows), directional,
                           flat.analytic_dtype, eps, flat.value, coordinates)


def _row_parts(leaves, stacked: tuple) -> list:
    """(row name, row shape, offset of the row in the flat parameter vector) for each
    row of the report: one per leaf, or one per slice along axis 0 of a stacked leaf."""
    names = [path_name(path) for path, _ in leaves]
    for name in stacked:
        if name not in names:
            raise ValueError(f"stacked names {name!r}, which is not a leaf; the leaves are: "
                             f"{', '.join(names)}")
    parts, offset = [], 0
    for name, (_, leaf) in zip(names, leaves, strict=True):
        shape = tuple(np.shape(leaf))
        if np.prod(shape, dtype=np.int64) == 0:  # nothing to check (e.g. W of a 1-layer MLP)
            continue
        if name in stacked and len(shape) >= 1:
            size = int(np.prod(shape[1:], dtype=np.int64))
            parts += [(f"{name}[{i}]", shape[1:], offset + i * size) for i in range(shape[0])]
        else:
            parts.append((name, shape, offset))
        offset += int(np.prod(shape, dtype=np.int64))
    return parts


def step_size_sweep(
    f: Callable,
    params,
    *args,
    grads=None,
    eps_values=None,
    dtype: str = "float64",
    n_directions: int = 8,
    seed: int = 0,
) -> StepSweep:
    """The relative error of the central difference for each step size eps.

    Along `n_directions` random unit directions v (the largest error is kept):
    |<grads, v> - (f(p + eps v) - f(p - eps v)) / (2 eps)| / max(...). Large eps:
    truncation error ~ eps^2; small eps: round-off ~ machine_eps |f| / eps. The best eps
    sits between. eps_values: (n_eps,), default EPS_GRID: 10^-12 ... 10^0, four per decade.
    """
    dtype, _ = resolve_precision(dtype, None)
    check_int_range("n_directions", n_directions, 1, 1000)
    eps_values = np.array(EPS_GRID) if eps_values is None else np.asarray(eps_values, dtype=float)
    if eps_values.ndim != 1 or eps_values.size == 0 or not np.all(eps_values > 0):
        raise ValueError(f"eps_values must be a non-empty 1-D array of positive steps, got "
                         f"{eps_values!r}")
    leaves = check_params(params)
    directions = random_directions(np.random.default_rng(seed),
                                   sum(int(np.size(leaf)) for _, leaf in leaves), n_directions)
    m = len(eps_values)
    with precision_scope(dtype):
        flat = flat_problem(f, params, args, grads, dtype)
        plus, minus = evaluate(flat, jnp.asarray(directions, flat.theta.dtype),
                               np.full(m * n_directions, -1),
                               np.tile(np.arange(n_directions), m),
                               np.repeat(eps_values, n_directions))
    plus, minus = plus.reshape(m, n_directions), minus.reshape(m, n_directions)
    analytic = directions @ flat.analytic
    numerical = (plus - minus) / (2 * eps_values[:, None])
    error = relative_error(analytic[None, :], numerical).max(axis=1)
    best = int(np.argmin(error))
    return StepSweep(eps_values, error, float(eps_values[best]), float(error[best]), dtype)
