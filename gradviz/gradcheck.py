"""Gradient checking with central differences.

A gradient (from `jax.grad`, a hand-written backward pass or a custom gradient rule) is
compared with the numerical derivative

    numerical_i = (f(p + eps e_i) - f(p - eps e_i)) / (2 eps),

whose error is O(eps^2) (truncation) plus O(machine_eps |f| / eps) (round-off). The
comparison is the relative error |a - n| / max(|a|, |n|) (0 when both are 0), read
against CS231n-style bands that depend on the precision:

    float64: good < 1e-7 <= acceptable with kinks < 1e-4 <= suspicious < 1e-2 <= wrong
    float32: good < 1e-3 <= acceptable with kinks < 1e-2 <= suspicious < 1e-1 <= wrong

Two refinements keep a correct gradient from looking wrong:

- resolution: the numerical derivative carries round-off noise of about
  noise = 4 machine_eps (|f(p + eps e_i)| + |f(p - eps e_i)|) / (2 eps). A coordinate
  whose gradient is below floor = noise / (the "good" threshold) cannot have its relative
  error resolved any better, so it is measured against the floor:
  |a - n| / max(|a|, |n|, floor), i.e. by its absolute error.
- kinks: with the one-sided slopes d+ = (f(p + eps e_i) - f(p)) / eps and
  d- = (f(p) - f(p - eps e_i)) / eps, a coordinate with a large error is *kinked* when
  min(|a - d+|, |a - d-|) <= |a - n| / 4: the analytic gradient agrees with the slope on
  one side of p far better than with the central difference. When the step crosses a
  ReLU, max or abs kink on one side, the other side is smooth, so a correct gradient
  matches that side's slope, while the central difference averages the two slopes. For a
  smooth f the one-sided slopes are a +- eps f''/2, much further from a than the central
  difference (error ~ eps^2); and a bug shifts a away from all three alike. A kinked
  coordinate's error is explained, not counted as a bug. (A step that crosses kinks on
  both sides can escape this test; a smaller eps crosses fewer.)

Checks run in float64 by default, inside `jax.enable_x64(True)`: the flag is switched on
for the check only and restored after it. Every evaluation is vectorised with `jax.vmap`
over chunks of perturbations: one compiled function serves every coordinate and every
random direction of a check, and is reused when the same f is checked again.
"""

import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.validate import check_choice, check_int_range, check_positive

DTYPES: tuple[str, ...] = ("float64", "float32")
VERDICTS: tuple[str, ...] = ("good", "acceptable with kinks", "suspicious", "wrong")
PASSING: tuple[str, ...] = ("good", "acceptable with kinks")
BANDS = {  # upper limits of: good, acceptable with kinks, suspicious (above: wrong)
    "float64": (1e-7, 1e-4, 1e-2),
    "float32": (1e-3, 1e-2, 1e-1),
}
DEFAULT_EPS = {"float64": 1e-5, "float32": 1e-2}
MACHINE_EPS = {name: float(np.finfo(name).eps) for name in DTYPES}
NOISE_ULPS = 4  # round-off of f(p +- eps v), in units of machine_eps |f|
KINK_AGREEMENT = 0.25  # a kink: a is 4x closer to a one-sided slope than to the central one
CHUNK = 128  # perturbations evaluated per vectorised call (2 evaluations each)


# --------------------------------------------------------------------------- errors


def relative_error(analytic, numerical, floor=0.0) -> np.ndarray:
    """|a - n| / max(|a|, |n|, floor), elementwise, in float64; 0 where a = n = 0.

    With floor = 0 (the default) it is symmetric in its arguments and unchanged when
    both are scaled by the same factor. `check_gradients` sets the floor to the round-off
    noise of the central difference divided by the "good" threshold: a gradient coordinate
    smaller than that is judged by its absolute error, because the finite difference
    cannot resolve its relative error any better.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return np.abs(a - n) / np.where(scale > 0, scale, 1.0)


def verdict(error: float, kinked: bool = False, dtype: str = "float64") -> str:
    """The band of a relative error: "good", "acceptable with kinks" (only where the
    check saw kinks; otherwise such an error is "suspicious"), "suspicious" or "wrong"."""
    good, with_kinks, suspicious = BANDS[DTYPES[check_choice("dtype", dtype, DTYPES)]]
    if error < good:
        return "good"
    if error < with_kinks and kinked:
        return "acceptable with kinks"
    return "suspicious" if error < suspicious else "wrong"


# --------------------------------------------------------------------------- results


class CoordinateChecks(NamedTuple):
    """The checked coordinates of one leaf; each field has shape (n_checked,)."""

    index: np.ndarray  # flat index into the leaf (np.unravel_index gives the position)
    analytic: np.ndarray
    numerical: np.ndarray  # central difference
    forward: np.ndarray  # one-sided (f(p + eps e_i) - f(p)) / eps
    backward: np.ndarray  # one-sided (f(p) - f(p - eps e_i)) / eps
    error: np.ndarray  # |a - n| / max(|a|, |n|, floor): see relative_error
    kinked: np.ndarray  # bool: the step crosses a kink


class LeafCheck(NamedTuple):
    """One row of the report: one parameter leaf."""

    path: str  # e.g. "W1" or "layers.0.w"
    shape: tuple
    n_checked: int
    n_total: int
    max_error: float  # largest relative error over the checked coordinates that are not kinked
    median_error: float  # over all checked coordinates
    worst_index: tuple  # position of the largest error (not kinked if any other is)
    analytic: float  # at worst_index
    numerical: float
    n_kinked: int
    kink_error: float  # largest relative error at kinked coordinates (0 if none)
    verdict: str

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING


class DirectionalCheck(NamedTuple):
    """Directional derivatives along random unit directions v (as in
    jax.test_util.check_grads): <grads, v> against (f(p + eps v) - f(p - eps v)) / (2 eps).
    Arrays have shape (n_directions,)."""

    analytic: np.ndarray
    numerical: np.ndarray
    error: np.ndarray
    kinked: np.ndarray
    max_error: float  # over directions that are not kinked
    verdict: str


class GradCheckReport(NamedTuple):
    """The result of `check_gradients`; its repr is a table with one row per leaf."""

    passed: bool
    rows: tuple  # LeafCheck per parameter leaf, in pytree order
    worst: LeafCheck  # the row with the largest max_error
    directional: DirectionalCheck
    dtype: str
    eps: float
    value: float  # f(params, *args)
    coordinates: dict  # path -> CoordinateChecks

    def row(self, path: str) -> LeafCheck:
        """The row of the leaf called `path` (e.g. "W1")."""
        for row in self.rows:
            if row.path == path:
                return row
        raise ValueError(f"no leaf {path!r}; the leaves are: {', '.join(self.leaf_paths)}")

    @property
    def leaf_paths(self) -> list[str]:
        return [row.path for row in self.rows]

    def __repr__(self) -> str:
        head = ("PASSED" if self.passed else "FAILED") + (
            f": gradient check in {self.dtype}, eps = {self.eps:.0e}, f = {self.value:.6g}")
        columns = ("leaf", "shape", "checked", "max error", "median", "worst at",
                   "analytic", "numerical", "kinks", "verdict")
        table = [columns]
        for r in self.rows:
            table.append((r.path, str(r.shape), f"{r.n_checked}/{r.n_total}",
                          f"{r.max_error:.1e}", f"{r.median_error:.1e}", str(r.worst_index),
                          f"{r.analytic:+.4e}", f"{r.numerical:+.4e}", str(r.n_kinked),
                          r.verdict))
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        lines = [head] + ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                          .rstrip() for line in table]
        d = self.directional
        lines.append(f"{len(d.error)} random directions: max error {d.max_error:.1e}, "
                     f"{int(d.kinked.sum())} kinked: {d.verdict}")
        lines.append(f"worst leaf: {self.worst.path} ({self.worst.verdict})")
        return "\n".join(lines)


class StepSweep(NamedTuple):
    """Relative error of central differences for each step size: the U-curve.
    eps and error have shape (n_eps,)."""

    eps: np.ndarray
    error: np.ndarray  # largest over the random directions
    best_eps: float
    best_error: float
    dtype: str


# --------------------------------------------------------------------------- input checks


def _check_params(params) -> list:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        raise ValueError("params must hold at least one array, got an empty pytree")
    for path, leaf in leaves:
        dtype = _dtype_of(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"params must hold floating-point arrays; leaf "
                             f"{_path_name(path)!r} has dtype {dtype} (gradients are "
                             "defined for floats only)")
        if not np.all(np.isfinite(np.asarray(leaf, dtype=np.float64))):
            raise ValueError(f"params leaf {_path_name(path)!r} contains NaN or inf")
    return leaves


def _check_grads_structure(params, grads) -> None:
    want, got = jax.tree.structure(params), jax.tree.structure(grads)
    if want != got:
        names = [_path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
        given = [_path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(grads)]
        raise ValueError(f"grads must have the same structure as params: params has leaves "
                         f"{names}, grads has {given}")
    for (path, p), g in zip(jax.tree_util.tree_leaves_with_path(params),
                            jax.tree.leaves(grads), strict=True):
        if np.shape(p) != np.shape(g):
            raise ValueError(f"grads leaf {_path_name(path)!r} has shape {np.shape(g)}, but "
                             f"the parameter has shape {np.shape(p)}")


def _dtype_of(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _path_name(path) -> str:
    return jax.tree_util.keystr(path, simple=True, separator=".") or "params"


def _cast(tree, dtype):
    """Floating-point arrays in tree cast to dtype (in NumPy: nothing to compile); other
    leaves (integer labels, names) unchanged."""
    def cast(x):
        if isinstance(x, (jax.Array, np.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(np.asarray(x, dtype=dtype))
        return x
    return jax.tree.map(cast, tree)


class _Static:
    """A hashable stand-in for an argument that is not an array (e.g. an activation name)."""

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        try:
            return hash(self.value)
        except TypeError:
            return id(self.value)

    def __eq__(self, other):
        return isinstance(other, _Static) and (self.value is other.value or
                                               self.value == other.value)


class _Problem(NamedTuple):
    """What the compiled evaluations need to know statically: f, how to unflatten the
    parameter vector, and the args that are not arrays. Hashable, so that checking the
    same f on same-shaped parameters again reuses the compiled code."""

    f: Callable
    treedef: object
    shapes: tuple
    args_treedef: object
    static_args: tuple  # _Static for each non-array leaf of args, None for arrays

    def value(self, theta, arrays):
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        parts = jnp.split(theta, np.cumsum(sizes)[:-1])
        params = jax.tree.unflatten(self.treedef, [part.reshape(shape) for part, shape in
                                                   zip(parts, self.shapes, strict=True)])
        arrays = iter(arrays)
        leaves = [next(arrays) if s is None else s.value for s in self.static_args]
        return self.f(params, *jax.tree.unflatten(self.args_treedef, leaves))


def _problem(f, params, args) -> tuple[_Problem, jax.Array, list]:
    """The hashable problem, the flat parameter vector theta (n,) and the array args."""
    leaves, treedef = jax.tree.flatten(params)
    theta = jnp.asarray(np.concatenate([np.ravel(leaf) for leaf in leaves]))
    arg_leaves, args_treedef = jax.tree.flatten(args)
    is_array = [isinstance(a, (jax.Array, np.ndarray)) for a in arg_leaves]
    static = tuple(None if a else _Static(leaf) for leaf, a in zip(arg_leaves, is_array,
                                                                    strict=True))
    arrays = [leaf for leaf, a in zip(arg_leaves, is_array, strict=True) if a]
    shapes = tuple(tuple(np.shape(leaf)) for leaf in leaves)
    return _Problem(f, treedef, shapes, args_treedef, static), theta, arrays


def _check_scalar(problem: _Problem, theta, arrays) -> None:
    """ValueError unless f returns a scalar (found by tracing f, without running it)."""
    shape = jax.eval_shape(problem.value, theta, arrays).shape
    if shape != ():
        raise ValueError(f"f(params, *args) must return a scalar (the loss), got shape "
                         f"{shape}; reduce it, e.g. with .mean() or .sum()")


def _lowest_precision(grads, dtype: str) -> str:
    """"float32" if any gradient leaf is stored in 32 bits or fewer, else dtype."""
    if dtype == "float64" and any(_dtype_of(g).itemsize < 8 for g in jax.tree.leaves(grads)):
        warnings.warn("grads are stored in float32 (or less): their own round-off limits the "
                      "check, so the float32 bands are used. Pass grads as a function "
                      "grads(params, *args) to compute them in float64.", stacklevel=4)
        return "float32"
    return dtype


def _resolve(dtype: str, eps) -> tuple[str, float]:
    dtype = DTYPES[check_choice("dtype", dtype, DTYPES)]
    eps = DEFAULT_EPS[dtype] if eps is None else check_positive("eps", eps)
    if eps >= 1.0:
        raise ValueError(f"eps must be below 1 (a small step), got {eps!r}")
    return dtype, eps


def _precision_scope(dtype: str):
    """float64 on for the block only (restored after it); float32 leaves the flag alone."""
    return jax.enable_x64(True) if dtype == "float64" else _nothing()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- evaluation


def _flat_problem(f, params, args, grads, dtype):
    """The problem, theta (n,), array args, the analytic gradient (n,), f(p) and the
    precision of the analytic gradient."""
    if not callable(f):
        raise ValueError(f"f must be a function f(params, *args) returning a scalar, got {f!r}")
    params = jax.tree.map(lambda p: jnp.asarray(np.asarray(p, dtype=dtype)), params)
    args = _cast(args, dtype)
    problem, theta, arrays = _problem(f, params, args)
    _check_scalar(problem, theta, arrays)
    if grads is None:
        value, flat_grad = _value_and_grad(problem, theta, arrays)
        analytic_dtype = dtype
    else:
        value = _value(problem, theta, arrays)
        if callable(grads):
            grads = grads(params, *args)
        _check_grads_structure(params, grads)
        analytic_dtype = _lowest_precision(grads, dtype)
        flat_grad = np.concatenate([np.ravel(np.asarray(g, dtype=np.float64))
                                    for g in jax.tree.leaves(grads)])
    return (problem, theta, arrays, np.asarray(flat_grad, dtype=np.float64), float(value),
            analytic_dtype)


@partial(jax.jit, static_argnums=0)
def _value(problem, theta, arrays):
    return problem.value(theta, arrays)


@partial(jax.jit, static_argnums=0)
def _value_and_grad(problem, theta, arrays):
    return jax.value_and_grad(problem.value)(theta, arrays)


@partial(jax.jit, static_argnums=0)
def _evaluate_chunk(problem, theta, arrays, directions, index, row, eps):
    """f at theta +- eps v for CHUNK perturbations at once (vmapped): v is the unit vector
    e_index where index >= 0, else directions[row]. index, row, eps: (CHUNK,);
    directions: (n_directions, n). Returns (CHUNK, 2)."""
    def at(i, r, e):
        v = jnp.where(i >= 0, jax.nn.one_hot(i, theta.size, dtype=theta.dtype), directions[r])
        return jnp.stack([problem.value(theta + e * v, arrays),
                          problem.value(theta - e * v, arrays)])
    return jax.vmap(at)(index, row, eps)


def _evaluate(problem, theta, arrays, directions, index, row, eps):
    """f(theta + eps v) and f(theta - eps v) for each perturbation, each (k,).

    The perturbations go through `_evaluate_chunk` CHUNK at a time (the last chunk padded),
    so every call compiles once per problem whatever k is.
    """
    k = len(index)
    pad = (-k) % CHUNK
    index = np.concatenate([np.asarray(index, np.int32), np.full(pad, -1, np.int32)])
    row = np.concatenate([np.asarray(row, np.int32), np.zeros(pad, np.int32)])
    eps = np.concatenate([np.asarray(eps, np.float64), np.zeros(pad)]).astype(theta.dtype)
    out = [np.asarray(_evaluate_chunk(problem, theta, arrays, directions, index[s:s + CHUNK],
                                      row[s:s + CHUNK], eps[s:s + CHUNK]), dtype=np.float64)
           for s in range(0, k + pad, CHUNK)]
    out = np.concatenate(out)[:k]
    return out[:, 0], out[:, 1]


def _compare(analytic, plus, minus, center, eps, dtype, analytic_dtype):
    """Central and one-sided differences, relative errors (against the floor) and kinks."""
    numerical = (plus - minus) / (2 * eps)
    forward, backward = (plus - center) / eps, (center - minus) / eps
    good = BANDS[analytic_dtype][0]
    noise = NOISE_ULPS * MACHINE_EPS[dtype] * (np.abs(plus) + np.abs(minus)) / (2 * eps)
    floor = np.maximum(noise / good, np.finfo(np.float64).tiny)
    error = relative_error(analytic, numerical, floor)
    one_sided = np.minimum(np.abs(analytic - forward), np.abs(analytic - backward))
    kinked = (error >= good) & (one_sided <= KINK_AGREEMENT * np.abs(analytic - numerical))
    return numerical, forward, backward, error, kinked


def _leaf_row(path, shape, index, analytic, checks: tuple, dtype) -> LeafCheck:
    numerical, _, _, error, kinked = checks
    counted = np.where(kinked, -1.0, error)
    worst = int(np.argmax(counted)) if (~kinked).any() else int(np.argmax(error))
    max_error = float(error[~kinked].max()) if (~kinked).any() else 0.0
    kink_error = float(error[kinked].max()) if kinked.any() else 0.0
    band = verdict(max_error, bool(kinked.any()), dtype)
    if band == "good" and kinked.any():  # the kinks explain the larger errors
        band = "acceptable with kinks"
    position = np.unravel_index(int(index[worst]), shape) if shape else ()
    return LeafCheck(path, tuple(shape), len(index), int(np.prod(shape, dtype=np.int64)),
                     max_error, float(np.median(error)), tuple(int(i) for i in position),
                     float(analytic[worst]), float(numerical[worst]), int(kinked.sum()),
                     kink_error, band)


def _sample(n: int, max_coordinates: int | None, rng: np.random.Generator) -> np.ndarray:
    """All flat indices 0..n-1, or a sorted random sample of max_coordinates of them."""
    if max_coordinates is None or n <= max_coordinates:
        return np.arange(n)
    return np.sort(rng.choice(n, max_coordinates, replace=False))


def _random_directions(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k random unit vectors of length n, float64: (k, n)."""
    v = rng.standard_normal((k, n))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# --------------------------------------------------------------------------- public API


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
) -> GradCheckReport:
    """Check the gradient of f(params, *args) -> scalar against central differences.

    params: any pytree of float arrays. grads: the gradient to check, a pytree shaped
    like params or a function grads(params, *args) returning one (computed in the
    check's dtype); None checks jax.grad(f). eps: the step (default 1e-5 in float64,
    1e-2 in float32). Every coordinate of a leaf is checked when it has at most
    `max_coordinates` (None: always), else a sample of that many, drawn with `seed`;
    plus `n_directions` random directions through all parameters at once. Floating
    args are cast to `dtype`, others (integer labels) are passed as they are.
    """
    dtype, eps = _resolve(dtype, eps)
    leaves = _check_params(params)
    if max_coordinates is not None:
        check_int_range("max_coordinates", max_coordinates, 1, 10**9)
    check_int_range("n_directions", n_directions, 1, 10_000)
    if dtype == "float32":
        warnings.warn("checking in float32: round-off limits the numerical gradient to about "
                      "1e-4 relative accuracy at best, so an error counts as good below 1e-3 "
                      "(1e-7 in float64, the default).", stacklevel=2)
    rng = np.random.default_rng(seed)
    sizes = [int(np.size(leaf)) for _, leaf in leaves]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    local = [_sample(n, max_coordinates, rng) for n in sizes]
    index = np.concatenate([offsets[i] + idx for i, idx in enumerate(local)])
    directions = _random_directions(rng, int(offsets[-1]), n_directions)
    with _precision_scope(dtype):
        problem, theta, arrays, flat_grad, value, analytic_dtype = _flat_problem(
            f, params, args, grads, dtype)
        # every coordinate (index >= 0) and every direction (index -1, row r): one pass
        plus, minus = _evaluate(
            problem, theta, arrays, jnp.asarray(directions, theta.dtype),
            np.concatenate([index, np.full(n_directions, -1)]),
            np.concatenate([np.zeros(len(index), int), np.arange(n_directions)]),
            np.full(len(index) + n_directions, eps))
    k = len(index)
    plus, d_plus, minus, d_minus = plus[:k], plus[k:], minus[:k], minus[k:]
    d_analytic = directions @ flat_grad
    analytic = flat_grad[index]
    checks = _compare(analytic, plus, minus, value, eps, dtype, analytic_dtype)
    rows, coordinates, start = [], {}, 0
    for (path, leaf), idx in zip(leaves, local, strict=True):
        part = slice(start, start + len(idx))
        start += len(idx)
        leaf_checks = tuple(c[part] for c in checks)
        name = _path_name(path)
        rows.append(_leaf_row(name, np.shape(leaf), idx, analytic[part], leaf_checks,
                              analytic_dtype))
        coordinates[name] = CoordinateChecks(idx, analytic[part], *leaf_checks)
    d_num, _, _, d_error, d_kinked = _compare(
        d_analytic, d_plus, d_minus, value, eps, dtype, analytic_dtype)
    d_max = float(d_error[~d_kinked].max()) if (~d_kinked).any() else 0.0
    d_verdict = verdict(d_max, bool(d_kinked.any()), analytic_dtype)
    if d_verdict == "good" and d_kinked.any():
        d_verdict = "acceptable with kinks"
    directional = DirectionalCheck(d_analytic, d_num, d_error, d_kinked, d_max, d_verdict)
    worst = max(rows, key=lambda r: r.max_error)
    passed = all(r.passed for r in rows) and d_verdict in PASSING
    return GradCheckReport(passed, tuple(rows), worst, directional, analytic_dtype, eps,
                           value, coordinates)


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
    sits between. eps_values default: 10^-12 ... 10^0, four per decade.
    """
    dtype, _ = _resolve(dtype, None)
    check_int_range("n_directions", n_directions, 1, 1000)
    eps_values = np.logspace(-12, 0, 49) if eps_values is None else np.asarray(eps_values,
                                                                                dtype=float)
    if eps_values.ndim != 1 or eps_values.size == 0 or not np.all(eps_values > 0):
        raise ValueError(f"eps_values must be a non-empty 1-D array of positive steps, got "
                         f"{eps_values!r}")
    leaves = _check_params(params)
    directions = _random_directions(np.random.default_rng(seed),
                                    sum(int(np.size(leaf)) for _, leaf in leaves), n_directions)
    m = len(eps_values)
    with _precision_scope(dtype):
        problem, theta, arrays, flat_grad, value, _ = _flat_problem(f, params, args, grads,
                                                                     dtype)
        plus, minus = _evaluate(problem, theta, arrays, jnp.asarray(directions, theta.dtype),
                                np.full(m * n_directions, -1),
                                np.tile(np.arange(n_directions), m),
                                np.repeat(eps_values, n_directions))
    plus, minus = plus.reshape(m, n_directions), minus.reshape(m, n_directions)
    analytic = directions @ flat_grad
    numerical = (plus - minus) / (2 * eps_values[:, None])
    error = relative_error(analytic[None, :], numerical).max(axis=1)
    best = int(np.argmin(error))
    return StepSweep(eps_values, error, float(eps_values[best]), float(error[best]), dtype)


# --------------------------------------------------------------------------- hand-written backward

TWO_LAYER_BUGS = {  # bug -> the parameter leaves whose gradient it corrupts
    "sigmoid_prime_of_z": ("W1", "b1"),
    "missing_transpose": ("W2",),
    "missing_1_over_m": ("W1",),
    "bias_wrong_axis": ("b1",),
    "mystery": ("b2",),
}


def two_layer_example(key: jax.Array) -> tuple[dict, jax.Array, jax.Array]:
    """A small regression problem for a 2-layer sigmoid network: (params, x, y).

    x: (8, 5), y: (8, 8); params {"W1": (5, 8), "b1": (8,), "W2": (8, 8), "b2": (8,)}.
    Batch, hidden width and outputs are all 8 on purpose: with square shapes, a
    transpose or a sum over the wrong axis still gives arrays of the right shape.
    """
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    params = {"W1": jax.random.normal(k1, (5, 8)) / jnp.sqrt(5.0),
              "b1": 0.1 * jax.random.normal(k2, (8,)),
              "W2": jax.random.normal(k3, (8, 8)) / jnp.sqrt(8.0),
              "b2": 0.1 * jax.random.normal(k4, (8,))}
    x = jax.random.normal(k5, (8, 5))
    y = jnp.sin(x @ jnp.ones((5, 8)) * jnp.linspace(0.2, 1.0, 8))
    return params, x, y


def two_layer_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """L = 1/(2m) sum (out - y)^2 with out = sigmoid(x W1 + b1) W2 + b2; x: (m, in)."""
    h = jax.nn.sigmoid(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return 0.5 * jnp.sum((out - y) ** 2) / x.shape[0]


def two_layer_backward(params: dict, x: jax.Array, y: jax.Array, bug: str | None = None) -> dict:
    """The gradient of `two_layer_loss`, written by hand the NumPy way.

    bug: None (correct) or one of TWO_LAYER_BUGS, planted in one line below.
    """
    if bug is not None:
        check_choice("bug", bug, list(TWO_LAYER_BUGS))
    m = x.shape[0]
    z = x @ params["W1"] + params["b1"]  # forward pass, keeping what backward needs
    h = 1 / (1 + jnp.exp(-z))
    out = h @ params["W2"] + params["b2"]
    d_out = out - y  # dL/d(out), without the 1/m: each gradient below divides by m
    dW2 = (d_out.T @ h if bug == "missing_transpose" else h.T @ d_out) / m
    db2 = d_out.mean(axis=0) / (m if bug == "mystery" else 1)
    dh = d_out @ params["W2"].T
    dz = dh * (z * (1 - z) if bug == "sigmoid_prime_of_z" else h * (1 - h))
    dW1 = x.T @ dz / (1 if bug == "missing_1_over_m" else m)
    db1 = dz.sum(axis=1 if bug == "bias_wrong_axis" else 0) / m
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
