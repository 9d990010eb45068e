"""Gradient checking with central differences: end to end, and layer by layer.

A gradient (from `jax.grad`, a hand-written backward pass or a custom gradient rule) is
compared with the numerical derivative

    numerical_i = (f(p + eps e_i) - f(p - eps e_i)) / (2 eps).

For a correct gradient a of a smooth f, |a - numerical| is made of two parts:

- truncation, eps^2 f'''/6: the Taylor terms the difference leaves out;
- round-off, about noise = NOISE_ULPS machine_eps (|f(p + eps e_i)| + |f(p - eps e_i)|)
  / (2 eps): each value of f carries a rounding error of a few machine_eps |f|, and the
  difference divides it by 2 eps.

The verdict of one coordinate follows from that error model:

1. unresolved: max(|a|, |numerical|) < RESOLVE x noise. Both values are below what the
   difference can resolve, so their relative error cannot be measured: the coordinate
   is neither passed nor failed. (Finite differences cannot certify a vanished gradient;
   `check_layers` can, one layer at a time.)
2. agrees: |a - numerical| <= max(good x scale, noise), with scale = max(|a|, |numerical|)
   and good the lowest band below: the error is within the "good" band, or within
   round-off.
3. truncation: otherwise, where a agrees in the same sense with Richardson's
   extrapolation (4 n(eps) - n(2 eps)) / 3 from a second step 2 eps, whose truncation
   is O(eps^4): the error is the step's eps^2 term. A smaller step removes it.
4. kinked: otherwise, where min(|a - d+|, |a - d-|) <= |a - numerical| / 4 with the
   one-sided slopes d+ = (f(p + eps e_i) - f(p)) / eps, d- = (f(p) - f(p - eps e_i)) / eps:
   the step crosses a ReLU, max or abs kink on one side, and a correct gradient matches
   the slope of the other side. (For a smooth f, d+- = a +- eps f''/2, much further from
   a than the central difference; a bug moves a away from all of them alike.)
5. otherwise the error is unexplained, and bands judge its size,
   unexplained = (|a - numerical| - noise) / scale:

    float64: good < 1e-7 <= suspicious < 1e-2 <= wrong
    float32: good < 1e-3 <= suspicious < 1e-1 <= wrong

   (CS231n's rules of thumb also allow errors up to 1e-4 "where there are kinks"; BANDS
   keeps that limit for `verdict(..., kinked=True)`. The check does not use it: a kinked
   coordinate (step 4) is excused on its own, and a kink elsewhere in the leaf excuses
   nothing else.)

A leaf (a row of the report) is "unresolved" when none of its checked coordinates is
resolved, else it gets the band of its largest unexplained error over the resolved
coordinates that are not kinked ("acceptable with kinks" or "acceptable with
truncation" when that error is good and some coordinates are kinked or truncation);
the report counts both. A report passes only when no leaf is
unresolved and every resolved coordinate agreed. A bug confined to unresolved
coordinates cannot be seen: leaves that stack layers (the gradviz MLP's "W") should be
split into one row per layer with `stacked=`, so that a vanished layer is not judged
on the coordinates of healthy ones.

Checks run in float64 by default, inside `jax.enable_x64(True)`: the flag is switched on
for the check only and restored after it. Every evaluation is vectorised with `jax.vmap`
over chunks of perturbations: one compiled function serves every coordinate and every
random direction of a check, and is reused when the same f is checked again.

Layer by layer (`check_layers`, `check_mlp_layers`): the chain rule is local, so a deep
network whose end-to-end gradient is too small to resolve can still be certified one
layer at a time. Each layer y = layer(params, h) is checked at its input h from the
forward pass (float64): the gradient of the scalar <u, layer(params, h)>, for a random
cotangent u with unit-scale entries (|N(0, 1)| with the signs of the layer's output, so
that the sum does not cancel), is the layer's vector-Jacobian product, and every
quantity in it is of order one. A full gradient (of a loss at the end of the layers) is
then compared with the chain rule of the checked VJPs.
"""

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.activations import get_activation
from gradviz.flow import loss_value
from gradviz.models import NORM_EPS, apply_mlp, mlp_depth, mlp_options
from gradviz.validate import check_choice, check_int_range, check_positive

DTYPES: tuple[str, ...] = ("float64", "float32")
VERDICTS: tuple[str, ...] = ("good", "acceptable with kinks", "acceptable with truncation",
                             "unresolved", "suspicious", "wrong")
PASSING: tuple[str, ...] = ("good", "acceptable with kinks", "acceptable with truncation")
BANDS = {  # upper limits of: good, CS231n's "with kinks" (see `verdict`), suspicious
    "float64": (1e-7, 1e-4, 1e-2),
    "float32": (1e-3, 1e-2, 1e-1),
}
DEFAULT_EPS = {"float64": 1e-5, "float32": 1e-2}
MACHINE_EPS = {name: float(np.finfo(name).eps) for name in DTYPES}
NOISE_ULPS = 4  # round-off of f(p +- eps v), in machine_eps |f|: a safety margin (measured: <= 1)
RESOLVE = 10  # a coordinate is resolved when max(|a|, |n|) >= RESOLVE x noise
KINK_AGREEMENT = 0.25  # a kink: a is 4x closer to a one-sided slope than to the central one
CHUNK = 128  # perturbations evaluated per vectorised call (2 evaluations each)


# --------------------------------------------------------------------------- errors


def relative_error(analytic, numerical, floor=0.0) -> np.ndarray:
    """|a - n| / max(|a|, |n|, floor), elementwise, in float64; 0 where a = n = 0.

    With floor = 0 (the default) it is symmetric in its arguments and unchanged when
    both are scaled by the same factor.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return np.abs(a - n) / np.where(scale > 0, scale, 1.0)


def verdict(error: float, kinked: bool = False, dtype: str = "float64") -> str:
    """The band of an (unexplained) relative error: "good", "suspicious" or "wrong"; with
    kinked=True, CS231n's rule of thumb for a function with kinks, "acceptable with kinks"
    below BANDS[dtype][1]. (`check_gradients` calls it with kinked=False: it excuses each
    kinked coordinate on its own instead.)"""
    good, with_kinks, suspicious = BANDS[DTYPES[check_choice("dtype", dtype, DTYPES)]]
    if error < good:
        return "good"
    if error < with_kinks and kinked:
        return "acceptable with kinks"
    return "suspicious" if error < suspicious else "wrong"


# --------------------------------------------------------------------------- results


class CoordinateChecks(NamedTuple):
    """The checked coordinates of one leaf (or the random directions); each field has
    shape (n_checked,)."""

    index: np.ndarray  # flat index into the leaf (np.unravel_index gives the position)
    analytic: np.ndarray
    numerical: np.ndarray  # central difference at eps
    forward: np.ndarray  # one-sided (f(p + eps e_i) - f(p)) / eps
    backward: np.ndarray  # one-sided (f(p) - f(p - eps e_i)) / eps
    noise: np.ndarray  # the round-off expected in `numerical`
    extrapolated: np.ndarray  # Richardson (4 n(eps) - n(2 eps)) / 3; NaN where not needed
    error: np.ndarray  # |a - n| / max(|a|, |n|): the relative error
    unexplained: np.ndarray  # the part of `error` no round-off, truncation or kink explains
    resolved: np.ndarray  # bool: max(|a|, |n|) >= RESOLVE x noise
    truncation: np.ndarray  # bool: the error is the step's truncation (agrees with Richardson)
    kinked: np.ndarray  # bool: the step crosses a kink


class LeafCheck(NamedTuple):
    """One row of the report: one parameter leaf."""

    path: str  # e.g. "W1", "layers.0.w" or "layer 3 / W"
    shape: tuple
    n_checked: int
    n_total: int
    n_resolved: int  # checked coordinates above the round-off floor
    max_error: float  # largest relative error at resolved coordinates that are not kinked
    unexplained: float  # largest unexplained relative error there: what the bands judge
    median_error: float  # over the resolved coordinates (0 if none)
    worst_index: tuple  # position of the largest unexplained (else relative) error
    analytic: float  # at worst_index
    numerical: float
    n_kinked: int
    n_truncation: int  # coordinates whose error is explained by truncation
    kink_error: float  # largest relative error at kinked coordinates (0 if none)
    verdict: str
    reason: str  # one line: why the verdict, and what to do ("" for a plain "good")

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING


class DirectionalCheck(NamedTuple):
    """Directional derivatives along random unit directions v (as in
    jax.test_util.check_grads): <grads, v> against (f(p + eps v) - f(p - eps v)) / (2 eps),
    judged like the coordinates of a leaf."""

    checks: CoordinateChecks  # index: the direction's number
    max_error: float  # over resolved directions that are not kinked
    verdict: str

    @property
    def analytic(self) -> np.ndarray:
        return self.checks.analytic

    @property
    def error(self) -> np.ndarray:
        return self.checks.error


def _table(rows) -> list[str]:
    """The rows of a report as aligned text lines (header first)."""
    columns = ("leaf", "shape", "checked", "resolved", "max error", "unexplained",
               "worst at", "analytic", "numerical", "kinks", "verdict")
    table = [columns]
    for r in rows:
        table.append((r.path, str(r.shape), f"{r.n_checked}/{r.n_total}", str(r.n_resolved),
                      f"{r.max_error:.1e}",
                      f"{r.unexplained:.1e}" if r.unexplained > 0 else "none",
                      str(r.worst_index),
                      f"{r.analytic:+.4e}", f"{r.numerical:+.4e}", str(r.n_kinked),
                      r.verdict))
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in table]


def _supplied_table(rows) -> list[str]:
    """The supplied-gradient rows as aligned text lines: supplied against chain rule."""
    columns = ("leaf", "shape", "max error", "worst at", "supplied", "chain rule", "verdict")
    table = [columns] + [(r.path, str(r.shape), f"{r.max_error:.1e}", str(r.worst_index),
                          f"{r.analytic:+.4e}", f"{r.numerical:+.4e}", r.verdict)
                         for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in table]


def _reasons(rows) -> list[str]:
    return [f"  {r.path}: {r.verdict}: {r.reason}" for r in rows if r.reason]


def _outcome(passed: bool, verdicts) -> str:
    """PASSED; FAILED where anything is suspicious or wrong; else UNRESOLVED (nothing
    failed, but something could not be judged)."""
    if passed:
        return "PASSED"
    return "FAILED" if any(v in ("suspicious", "wrong") for v in verdicts) else "UNRESOLVED"


def _find_row(rows, path: str) -> LeafCheck:
    for row in rows:
        if row.path == path:
            return row
    raise ValueError(f"no leaf {path!r}; the leaves are: {', '.join(r.path for r in rows)}")


def _worst_row(rows) -> LeafCheck:
    """The row that most needs attention: failed before unresolved before passed, then
    the largest unexplained and relative errors."""
    rank = {"wrong": 5, "suspicious": 4, "unresolved": 3}
    return max(rows, key=lambda r: (rank.get(r.verdict, 0), r.unexplained, r.max_error))


class GradCheckReport(NamedTuple):
    """The result of `check_gradients`; its repr is a table with one row per leaf."""

    passed: bool  # every leaf resolved and agreed, and so did the random directions
    rows: tuple  # LeafCheck per parameter leaf, in pytree order
    worst: LeafCheck  # the row that most needs attention (see _worst_row)
    directional: DirectionalCheck
    dtype: str
    eps: float
    value: float  # f(params, *args)
    coordinates: dict  # path -> CoordinateChecks

    def row(self, path: str) -> LeafCheck:
        """The row of the leaf called `path` (e.g. "W1")."""
        return _find_row(self.rows, path)

    @property
    def outcome(self) -> str:
        """"PASSED", "FAILED" (something suspicious or wrong) or "UNRESOLVED"."""
        return _outcome(self.passed, [r.verdict for r in self.rows]
                        + [self.directional.verdict])

    @property
    def leaf_paths(self) -> list[str]:
        return [row.path for row in self.rows]

    def __repr__(self) -> str:
        head = self.outcome + (
            f": gradient check in {self.dtype}, eps = {self.eps:.0e}, f = {self.value:.6g}")
        lines = [head] + _table(self.rows)
        d = self.directional
        lines.append(f"{len(d.checks.error)} random directions: max error {d.max_error:.1e}, "
                     f"{int(d.checks.kinked.sum())} kinked: {d.verdict}")
        lines += _reasons(self.rows)
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
    out = np.concatenate(out)[:k] if k else np.zeros((0, 2))
    return out[:, 0], out[:, 1]


def _round_off(plus, minus, eps, dtype):
    """The round-off expected in the central difference (f(p + eps v) - f(p - eps v)) / 2 eps."""
    return NOISE_ULPS * MACHINE_EPS[dtype] * (np.abs(plus) + np.abs(minus)) / (2 * eps)


def _within(analytic, numerical, noise, good):
    """|a - n| <= max(good x max(|a|, |n|), noise): inside the good band or the round-off."""
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    return np.abs(analytic - numerical) <= np.maximum(good * scale, noise)


def _judge(analytic, plus, minus, center, eps, dtype, analytic_dtype, second_step):
    """The error model applied to each perturbation (see the module docstring).

    analytic, plus, minus: (k,); center: f(p). second_step(which) evaluates f at
    p +- 2 eps v for the perturbations `which` (a bool mask) and returns (plus2, minus2):
    it is needed only where the first step does not already agree.
    Returns a dict of the CoordinateChecks fields (all but index), each (k,).
    """
    good = BANDS[analytic_dtype][0]
    numerical = (plus - minus) / (2 * eps)
    forward, backward = (plus - center) / eps, (center - minus) / eps
    noise = _round_off(plus, minus, eps, dtype)
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    resolved = scale >= RESOLVE * noise
    agrees = _within(analytic, numerical, noise, good)
    extrapolated = np.full_like(numerical, np.nan)
    again = resolved & ~agrees
    if again.any():
        plus2, minus2 = second_step(again)
        coarse = (plus2 - minus2) / (4 * eps)
        extrapolated[again] = (4 * numerical[again] - coarse) / 3
    noise_extrapolated = 1.5 * noise  # (4 noise + noise / 2) / 3: the noise at 2 eps is half
    truncation = np.zeros_like(again)
    truncation[again] = _within(analytic[again], extrapolated[again],
                                noise_extrapolated[again], good)
    miss = np.abs(analytic - numerical) - noise  # what round-off leaves unexplained
    miss[again] = np.minimum(miss[again], np.abs(analytic - extrapolated)[again]
                             - noise_extrapolated[again])
    unexplained = np.where(agrees | truncation, 0.0,
                           np.maximum(miss, 0.0) / np.where(scale > 0, scale, 1.0))
    one_sided = np.minimum(np.abs(analytic - forward), np.abs(analytic - backward))
    kinked = (resolved & (unexplained >= good)
              & (one_sided <= KINK_AGREEMENT * np.abs(analytic - numerical)))
    return {"analytic": analytic, "numerical": numerical, "forward": forward,
            "backward": backward, "noise": noise, "extrapolated": extrapolated,
            "error": relative_error(analytic, numerical), "unexplained": unexplained,
            "resolved": resolved, "truncation": truncation, "kinked": kinked}


def _summarise(checks: CoordinateChecks, dtype: str):
    """(verdict, reason, worst position among checks, max_error, unexplained) of a leaf or
    of the random directions."""
    resolved, kinked = checks.resolved, checks.kinked
    n, n_resolved = len(resolved), int(resolved.sum())
    if n_resolved == 0:
        top = float(np.max(np.maximum(np.abs(checks.analytic), np.abs(checks.numerical))))
        floor = float(RESOLVE * np.min(checks.noise))
        return ("unresolved",
                f"|analytic| and |numerical| <= {top:.1e}, below {RESOLVE} x round-off "
                f"({floor:.1e}) in all {n} checked: finite differences cannot certify a "
                "gradient this small; check it layer by layer (check_layers)",
                int(np.argmax(checks.error)), 0.0, 0.0)
    counted = resolved & ~kinked
    if counted.any():
        pick = np.where(counted, checks.unexplained, -1.0)
        if pick.max() <= 0:
            pick = np.where(counted, checks.error, -1.0)
        worst = int(np.argmax(pick))
        max_error = float(checks.error[counted].max())
        unexplained = float(checks.unexplained[counted].max())
    else:
        worst, max_error, unexplained = int(np.argmax(checks.error)), 0.0, 0.0
    band = verdict(unexplained, False, dtype)  # a kink excuses only its own coordinate
    truncated = checks.truncation & resolved
    if band == "good" and kinked.any():
        band = "acceptable with kinks"
    elif band == "good" and truncated.any():
        band = "acceptable with truncation"
    parts = []
    if band in ("suspicious", "wrong"):
        parts.append(f"unexplained error {unexplained:.1e}: neither round-off, truncation "
                     "nor a kink accounts for it")
    if kinked.any():
        parts.append(f"{int(kinked.sum())} where the step crosses a kink (the analytic "
                     "value matches a one-sided slope)")
    if truncated.any():
        parts.append(f"{int(truncated.sum())} whose error (up to "
                     f"{float(checks.error[truncated].max()):.1e}) is the step's truncation: "
                     "they agree with the extrapolation from eps and 2 eps; a smaller step "
                     "removes it")
    if n_resolved < n:
        parts.append(f"{n - n_resolved} of {n} unresolved (below {RESOLVE} x round-off: "
                     "judged neither way)")
    return band, "; ".join(parts), worst, max_error, unexplained


def _leaf_row(path, shape, checks: CoordinateChecks, dtype) -> LeafCheck:
    band, reason, worst, max_error, unexplained = _summarise(checks, dtype)
    position = np.unravel_index(int(checks.index[worst]), shape) if shape else ()
    resolved = checks.resolved
    median = float(np.median(checks.error[resolved])) if resolved.any() else 0.0
    kinked = checks.kinked
    return LeafCheck(path, tuple(shape), len(checks.index),
                     int(np.prod(shape, dtype=np.int64)), int(resolved.sum()), max_error,
                     unexplained, median, tuple(int(i) for i in position),
                     float(checks.analytic[worst]), float(checks.numerical[worst]),
                     int(kinked.sum()), int((checks.truncation & resolved).sum()),
                     float(checks.error[kinked].max()) if kinked.any() else 0.0, band, reason)


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
    parts = _row_parts(leaves, tuple(stacked))  # (name, shape, offset into theta) per row
    local = [_sample(int(np.prod(shape, dtype=np.int64)), max_coordinates, rng)
             for _, shape, _ in parts]
    k = sum(len(idx) for idx in local)
    # every coordinate (index >= 0) and every direction (index -1, row r): one pass
    index = np.concatenate([offset + idx for (_, _, offset), idx in zip(parts, local,
                                                                         strict=True)]
                           + [np.full(n_directions, -1)])
    row = np.concatenate([np.zeros(k, int), np.arange(n_directions)])
    directions = _random_directions(rng, sum(int(np.size(leaf)) for _, leaf in leaves),
                                    n_directions)
    with _precision_scope(dtype):
        problem, theta, arrays, flat_grad, value, analytic_dtype = _flat_problem(
            f, params, args, grads, dtype)
        directions_dev = jnp.asarray(directions, theta.dtype)
        plus, minus = _evaluate(problem, theta, arrays, directions_dev, index, row,
                                np.full(len(index), eps))

        def second_step(which):
            return _evaluate(problem, theta, arrays, directions_dev, index[which],
                             row[which], np.full(int(which.sum()), 2 * eps))

        analytic = np.concatenate([flat_grad[index[:k]], directions @ flat_grad])
        judged = _judge(analytic, plus, minus, value, eps, dtype, analytic_dtype,
                        second_step)
    rows, coordinates, start = [], {}, 0
    for (name, shape, _), idx in zip(parts, local, strict=True):
        part = slice(start, start + len(idx))
        start += len(idx)
        coordinates[name] = CoordinateChecks(idx, **{f: v[part] for f, v in judged.items()})
        rows.append(_leaf_row(name, shape, coordinates[name], analytic_dtype))
    along = CoordinateChecks(np.arange(n_directions), **{f: v[k:] for f, v in judged.items()})
    d_verdict, _, _, d_max, _ = _summarise(along, analytic_dtype)
    directional = DirectionalCheck(along, d_max, d_verdict)
    passed = all(r.passed for r in rows) and d_verdict in PASSING
    return GradCheckReport(passed, tuple(rows), _worst_row(rows), directional,
                           analytic_dtype, eps, value, coordinates)


def _row_parts(leaves, stacked: tuple) -> list:
    """(row name, row shape, offset of the row in the flat parameter vector) for each
    row of the report: one per leaf, or one per slice along axis 0 of a stacked leaf."""
    names = [_path_name(path) for path, _ in leaves]
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


# --------------------------------------------------------------------------- layer by layer


class LayerwiseReport(NamedTuple):
    """The result of `check_layers` / `check_mlp_layers`.

    rows: one LeafCheck per layer and leaf, e.g. "layer 3 / W", "layer 3 / input": each
    layer's vector-Jacobian product against central differences of <u, layer(...)>.
    supplied: one LeafCheck per layer parameter leaf: the supplied full gradient against
    the chain rule of those checked VJPs (empty when no gradient was supplied).
    """

    passed: bool  # every layer's VJP resolved and agreed, and so did the supplied gradient
    rows: tuple
    supplied: tuple
    worst: LeafCheck  # the row (of either kind) that most needs attention
    eps: float
    names: tuple  # the layers' names, in order

    def row(self, path: str) -> LeafCheck:
        """The row called `path`, e.g. "layer 1 / W" (a VJP row) or "supplied layer 1 / W"."""
        if path.startswith("supplied "):
            return _find_row(self.supplied, path.removeprefix("supplied "))
        return _find_row(self.rows, path)

    @property
    def outcome(self) -> str:
        """"PASSED", "FAILED" (something suspicious or wrong) or "UNRESOLVED"."""
        return _outcome(self.passed, [r.verdict for r in self.rows + self.supplied])

    @property
    def failing_layers(self) -> list[str]:
        """The names of the layers with a row (of either kind) that did not pass."""
        bad = {r.path.split(" / ")[0] for r in self.rows + self.supplied if not r.passed}
        return [name for name in self.names if name in bad]

    def __repr__(self) -> str:
        head = self.outcome + (
            f": layer-by-layer check in float64, eps = {self.eps:.0e}, {len(self.names)} "
            "layers, random unit-scale cotangents")
        lines = [head] + _table(self.rows) + _reasons(self.rows)
        if self.supplied:
            lines.append("the supplied gradient against the chain rule of the checked layers:")
            lines += _supplied_table(self.supplied) + _reasons(self.supplied)
        failing = self.failing_layers
        lines.append("failing layers: " + (", ".join(failing) if failing else "none"))
        return "\n".join(lines)


def _cotangent(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """A random cotangent for a layer's output y: |N(0, 1)| entries with the signs of y.

    With the signs of y, <u, y> is a sum of positive terms, so its round-off is a few
    machine_eps |<u, y>|, as the error model assumes (random signs would let the sum
    cancel and its round-off exceed that). The magnitudes are random, so a wrong VJP
    still shows for almost every such u.
    """
    return np.abs(rng.standard_normal(np.shape(y))) * np.where(y >= 0, 1.0, -1.0)


def _cotangent_product(inputs, layer, cotangent):
    """<u, layer(params, h)> for inputs = {"params": params, "input": h}: its gradient
    with respect to inputs is the layer's vector-Jacobian product with the cotangent u."""
    return jnp.sum(cotangent * layer(inputs["params"], inputs["input"]))


@partial(jax.jit, static_argnums=0)
def _autodiff_vjp(layer, params, h, cotangent):
    """(u^T dy/dparams, u^T dy/dh) for y = layer(params, h), by jax.vjp."""
    return jax.vjp(layer, params, h)[1](cotangent)


def _vjp_of(layer, backward):
    """The layer's VJP as backward(params, h, u) -> (grad_params, grad_h): the user's
    function, or autodiff where it is None."""
    if backward is None:
        return partial(_autodiff_vjp, layer)
    if not callable(backward):
        raise ValueError(f"each backward must be a function backward(params, h, cotangent) "
                         f"-> (grad_params, grad_h), or None for autodiff; got {backward!r}")
    return backward


def _to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a, dtype=np.float64)), tree)


def _supplied_row(path, supplied, reference) -> LeafCheck:
    """A supplied gradient leaf against the chain-rule gradient (both analytic: every
    coordinate is compared, with no finite-difference noise)."""
    a = np.ravel(np.asarray(supplied, dtype=np.float64))
    r = np.ravel(np.asarray(reference, dtype=np.float64))
    shape = tuple(np.shape(reference))
    if np.shape(supplied) != shape:
        raise ValueError(f"the supplied gradient of {path} has shape {np.shape(supplied)}, "
                         f"but the parameter has shape {shape}")
    error = relative_error(a, r)
    worst = int(np.argmax(error)) if error.size else 0
    precision = "float64" if _dtype_of(supplied).itemsize >= 8 else "float32"
    band = verdict(float(error.max()) if error.size else 0.0, dtype=precision)
    reason = ("" if band == "good" else f"differs from the chain rule of the checked layer "
              f"VJPs (relative error {float(error.max()):.1e})")
    position = np.unravel_index(worst, shape) if shape else ()
    return LeafCheck(path, shape, a.size, a.size, a.size, float(error.max()),
                     float(error.max()), float(np.median(error)),
                     tuple(int(i) for i in position), float(a[worst]), float(r[worst]), 0, 0,
                     0.0, band, reason)


def check_layers(
    layers: Sequence[Callable],
    params: Sequence,
    x,
    *,
    names: Sequence[str] | None = None,
    backward: Sequence | None = None,
    grads: Sequence | None = None,
    eps: float | None = None,
    max_coordinates: int | None = 200,
    n_directions: int = 4,
    seed: int = 0,
) -> LayerwiseReport:
    """Check a layered function's gradients one layer at a time, in float64.

    layers: functions layer_l(params_l, h) -> the next h; params: their parameters
    (pytrees; {} for a layer without any); x: the input of the first layer. The forward
    pass gives each layer's input h_l. For each layer a random cotangent u_l (|N(0, 1)|
    entries with the signs of the layer's output y_l) turns it into the scalar
    <u_l, layer_l(params_l, h_l)>, whose gradient with respect to (params_l, h_l) is the
    layer's vector-Jacobian product;
    `check_gradients` compares it with central differences (rows "name / leaf" and
    "name / input"). backward: per layer, None (autodiff) or the layer's own
    backward(params_l, h_l, u) -> (grad_params_l, grad_h_l), e.g. a hand-written one.

    grads: per layer, the supplied gradient of the last layer's scalar output (the loss)
    with respect to params_l. It is compared, every coordinate, with the chain rule of
    the checked VJPs: the cotangent 1 pulled back through the layers. Since each VJP was
    just verified, that product is a verified gradient, whatever its size; a mismatch is
    reported on the layer where it occurs.
    """
    layers, params = list(layers), list(params)
    if not layers or len(layers) != len(params):
        raise ValueError(f"layers and params must be lists of the same, non-zero length; got "
                         f"{len(layers)} layers and {len(params)} parameter sets")
    names = [f"layer {i + 1}" for i in range(len(layers))] if names is None else list(names)
    backward = [None] * len(layers) if backward is None else list(backward)
    if len(names) != len(layers) or len(backward) != len(layers):
        raise ValueError("names and backward must have one entry per layer")
    for i, layer in enumerate(layers):
        if not callable(layer):
            raise ValueError(f"layer {names[i]!r} must be a function layer(params, h), got "
                             f"{layer!r}")
    vjps = [_vjp_of(layer, b) for layer, b in zip(layers, backward, strict=True)]
    rng = np.random.default_rng(seed)
    rows = []
    with jax.enable_x64(True):
        params = [_to64(p) for p in params]
        inputs, h = [], _to64(x)
        for layer, p in zip(layers, params, strict=True):  # the forward pass
            inputs.append(h)
            h = layer(p, h)
        outputs = inputs[1:] + [h]
        for i, (layer, p, h_in) in enumerate(zip(layers, params, inputs, strict=True)):
            u = jnp.asarray(_cotangent(rng, np.asarray(outputs[i])))

            def vjp(both, layer, u, vjp=vjps[i]):
                grad_params, grad_input = vjp(both["params"], both["input"], u)
                return {"params": grad_params, "input": grad_input}

            report = check_gradients(_cotangent_product, {"params": p, "input": h_in}, layer,
                                     u, grads=vjp, eps=eps, max_coordinates=max_coordinates,
                                     n_directions=n_directions, seed=seed + i)
            for r in report.rows:
                leaf = r.path.removeprefix("params.")
                rows.append(r._replace(path=f"{names[i]} / {leaf}"))
        supplied = []
        if grads is not None:
            supplied = _compare_with_chain_rule(names, params, inputs, vjps, list(grads),
                                                jnp.shape(h))
    passed = all(r.passed for r in rows + supplied)
    return LayerwiseReport(passed, tuple(rows), tuple(supplied), _worst_row(rows + supplied),
                           DEFAULT_EPS["float64"] if eps is None else eps, tuple(names))


def _compare_with_chain_rule(names, params, inputs, vjps, grads, out_shape) -> list:
    """Rows of the supplied per-layer gradients against the chain rule of the layers'
    VJPs: the cotangent 1 of the scalar output, pulled back layer by layer."""
    if out_shape != ():
        raise ValueError(f"grads needs the last layer to return a scalar (the loss), got "
                         f"shape {out_shape}")
    if len(grads) != len(params):
        raise ValueError(f"grads must have one entry per layer ({len(params)}), got "
                         f"{len(grads)}")
    cotangent, reference = jnp.ones(()), [None] * len(params)
    for i in reversed(range(len(params))):
        reference[i], cotangent = vjps[i](params[i], inputs[i], cotangent)
    rows = []
    for name, given, want in zip(names, grads, reference, strict=True):
        if jax.tree.structure(given) != jax.tree.structure(want):
            raise ValueError(f"the supplied gradient of {name} must have the structure of its "
                             f"parameters: {jax.tree.structure(want)}")
        for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(given),
                                jax.tree.leaves(want), strict=True):
            leaf = jax.tree_util.keystr(path, simple=True, separator=".") or "params"
            rows.append(_supplied_row(f"{name} / {leaf}", g, w))
    return rows


# ------------------------------------------------------------- the gradviz MLP, layer by layer


def _normalize(z, norm: str):
    """Batch norm (over the batch), layer norm (over the units) or nothing, as in
    gradviz.models (without learned gain and shift)."""
    if norm == "none":
        return z
    axis = 0 if norm == "batch" else -1
    mean, var = z.mean(axis=axis, keepdims=True), z.var(axis=axis, keepdims=True)
    return (z - mean) * jax.lax.rsqrt(var + NORM_EPS)


class MLPLayer(NamedTuple):
    """One hidden layer of a gradviz MLP as a function of (params, h):
    phi(N(h @ params["W"] + params["b"])), plus h when residual; h: (batch, fan_in).
    A NamedTuple, so that equal layers compare equal and share their compiled code."""

    activation: str
    norm: str = "none"
    residual: bool = False

    def __call__(self, params, h):
        out = get_activation(self.activation)(_normalize(h @ params["W"] + params["b"],
                                                         self.norm))
        return out + h if self.residual else out


def mlp_readout(params, h):
    """The MLP's linear read-out h @ params["W"] + params["b"]; h: (batch, width)."""
    return h @ params["W"] + params["b"]


def mlp_layers(params: dict, activation: str = "tanh", residual: bool = False,
               norm: str = "none") -> tuple[list, list, list]:
    """A gradviz MLP as (names, layers, layer_params) for `check_layers`.

    "layer 1" holds {"W": W_in, "b": b_in}, "layer l" (l >= 2) {"W": W[l-2], "b": b[l-2]},
    "read-out" {"W": W_out, "b": b_out}. The split only indexes the pytree, so applied to
    a gradient shaped like params it splits the gradient the same way.
    """
    options = mlp_options(activation, residual, norm)
    depth = mlp_depth(params)
    first = MLPLayer(activation, options["norm"], False)
    hidden = MLPLayer(activation, options["norm"], options["residual"])
    names = [f"layer {i}" for i in range(1, depth + 1)] + ["read-out"]
    layers = [first] + [hidden] * (depth - 1) + [mlp_readout]
    layer_params = ([{"W": params["W_in"], "b": params["b_in"]}]
                    + [{"W": params["W"][i], "b": params["b"][i]} for i in range(depth - 1)]
                    + [{"W": params["W_out"], "b": params["b_out"]}])
    return names, layers, layer_params


_LOSS_LAYERS: dict = {}  # (loss, targets' bytes) -> the loss as a layer


def _loss_layer(loss: str, y) -> Callable:
    """The loss as a last layer, loss(_, outputs) = loss_value(outputs, y, loss); one
    function per distinct (loss, y), so that checking the same data again reuses its
    compiled code."""
    y = np.asarray(y)
    key = (loss, y.dtype.str, y.shape, y.tobytes())
    if key not in _LOSS_LAYERS:
        targets = jnp.asarray(y)

        def loss_layer(_, outputs):
            return loss_value(outputs, targets, loss)

        _LOSS_LAYERS[key] = loss_layer
    return _LOSS_LAYERS[key]


def check_mlp_layers(
    params: dict,
    x,
    y,
    activation: str = "tanh",
    residual: bool = False,
    norm: str = "none",
    loss: str = "cross_entropy",
    *,
    grads=None,
    eps: float | None = None,
    max_coordinates: int | None = 200,
    seed: int = 0,
) -> LayerwiseReport:
    """`check_layers` for a gradviz MLP on x: (batch, in_dim) with targets y, its loss
    (`gradviz.flow.loss_value`) as the last layer ("loss").

    grads: a gradient of the loss shaped like params (e.g. a hand-written or corrupted
    one), or a function grads(params, x, y, activation, residual, norm) returning one
    (called in float64); it is split per layer by `mlp_layers` and compared with the
    chain rule of the checked layers. The layers are first checked to compose to
    `gradviz.apply_mlp` (in float64).
    """
    names, layers, layer_params = mlp_layers(params, activation, residual, norm)
    with jax.enable_x64(True):
        x64, params64 = _to64(x), _to64(params)
        y64 = _cast(y, np.float64)
        h = x64
        for layer, p in zip(layers, mlp_layers(params64, activation, residual, norm)[2],
                            strict=True):
            h = layer(p, h)
        model = apply_mlp(params64, x64, activation, residual, norm)
        if not np.allclose(np.asarray(h), np.asarray(model), rtol=1e-10, atol=1e-12):
            raise RuntimeError("the MLP's layers do not compose to gradviz.apply_mlp: "
                               "gradcheck.mlp_layers is out of step with gradviz.models")
        if callable(grads):
            grads = grads(params64, x64, y64, activation, residual, norm)
        per_layer = None
        if grads is not None:
            per_layer = mlp_layers(grads, activation, residual, norm)[2] + [{}]

    return check_layers(layers + [_loss_layer(loss, y64)], layer_params + [{}], x,
                        names=names + ["loss"],
                        grads=per_layer, eps=eps, max_coordinates=max_coordinates, seed=seed)


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
