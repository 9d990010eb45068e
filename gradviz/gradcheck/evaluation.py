"""Evaluating f(params, *args) at many perturbed parameters at once, in a chosen precision.

The parameters are flattened into one vector theta (n,); f is wrapped in a hashable
`Problem`, so that one compiled, `jax.vmap`ped function serves every coordinate and
every random direction of a check, and is reused when the same f is checked again.
Checks run in float64 by default, inside `jax.enable_x64(True)`: the flag is switched
on for the check only (`precision_scope`) and restored after it.
"""

import warnings
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.gradcheck.errors import DEFAULT_EPS, DTYPES
from gradviz.validate import check_choice, check_positive

CHUNK = 128  # perturbations evaluated per vectorised call (2 evaluations each)


# --------------------------------------------------------------------------- pytrees and dtypes


def dtype_of(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def path_name(path) -> str:
    """A pytree key path as text: "W1", "layers.0.w"; "params" for the root."""
    return jax.tree_util.keystr(path, simple=True, separator=".") or "params"


def cast_floats(tree, dtype):
    """Floating-point arrays in tree cast to dtype (in NumPy: nothing to compile); other
    leaves (integer labels, names) unchanged."""
    def cast(x):
        if isinstance(x, (jax.Array, np.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(np.asarray(x, dtype=dtype))
        return x
    return jax.tree.map(cast, tree)


def to_float64(tree):
    """Every leaf of tree as a float64 array (call inside jax.enable_x64(True))."""
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a, dtype=np.float64)), tree)


def check_params(params) -> list:
    """The (path, leaf) pairs of params; ValueError unless all are finite float arrays."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        raise ValueError("params must hold at least one array, got an empty pytree")
    for path, leaf in leaves:
        dtype = dtype_of(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"params must hold floating-point arrays; leaf "
                             f"{path_name(path)!r} has dtype {dtype} (gradients are "
                             "defined for floats only)")
        if not np.all(np.isfinite(np.asarray(leaf, dtype=np.float64))):
            raise ValueError(f"params leaf {path_name(path)!r} contains NaN or inf")
    return leaves


def _check_grads_structure(params, grads) -> None:
    want, got = jax.tree.structure(params), jax.tree.structure(grads)
    if want != got:
        names = [path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
        given = [path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(grads)]
        raise ValueError(f"grads must have the same structure as params: params has leaves "
                         f"{names}, grads has {given}")
    for (path, p), g in zip(jax.tree_util.tree_leaves_with_path(params),
                            jax.tree.leaves(grads), strict=True):
        if np.shape(p) != np.shape(g):
            raise ValueError(f"grads leaf {path_name(path)!r} has shape {np.shape(g)}, but "
                             f"the parameter has shape {np.shape(p)}")


def _lowest_precision(grads, dtype: str) -> str:
    """"float32" if any gradient leaf is stored in 32 bits or fewer, else dtype."""
    if dtype == "float64" and any(dtype_of(g).itemsize < 8 for g in jax.tree.leaves(grads)):
        warnings.warn("grads are stored in float32 (or less): their own round-off limits the "
                      "check, so the float32 bands are used. Pass grads as a function "
                      "grads(params, *args) to compute them in float64.", stacklevel=4)
        return "float32"
    return dtype


def resolve_precision(dtype: str, eps) -> tuple[str, float]:
    """The checked (dtype, eps): eps defaults to DEFAULT_EPS[dtype] and must be in (0, 1)."""
    dtype = DTYPES[check_choice("dtype", dtype, DTYPES)]
    eps = DEFAULT_EPS[dtype] if eps is None else check_positive("eps", eps)
    if eps >= 1.0:
        raise ValueError(f"eps must be below 1 (a small step), got {eps!r}")
    return dtype, eps


def precision_scope(dtype: str):
    """float64 on for the block only (restored after it); float32 leaves the flag alone."""
    return jax.enable_x64(True) if dtype == "float64" else nullcontext()


# --------------------------------------------------------------------------- the problem


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


class Problem(NamedTuple):
    """What the compiled evaluations need to know statically: f, how to unflatten the
    parameter vector, and the args that are not arrays. Hashable, so that checking the
    same f on same-shaped parameters again reuses the compiled code."""

    f: Callable
    treedef: object
    shapes: tuple
    args_treedef: object
    static_args: tuple  # _Static for each non-array leaf of args, None for arrays

    def value(self, theta, arrays):
        """f(params, *args) with params unflattened from theta (n,)."""
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        parts = jnp.split(theta, np.cumsum(sizes)[:-1])
        params = jax.tree.unflatten(self.treedef, [part.reshape(shape) for part, shape in
                                                   zip(parts, self.shapes, strict=True)])
        arrays = iter(arrays)
        leaves = [next(arrays) if s is None else s.value for s in self.static_args]
        return self.f(params, *jax.tree.unflatten(self.args_treedef, leaves))


def _problem(f, params, args) -> tuple[Problem, jax.Array, list]:
    """The hashable problem, the flat parameter vector theta (n,) and the array args."""
    leaves, treedef = jax.tree.flatten(params)
    theta = jnp.asarray(np.concatenate([np.ravel(leaf) for leaf in leaves]))
    arg_leaves, args_treedef = jax.tree.flatten(args)
    is_array = [isinstance(a, (jax.Array, np.ndarray)) for a in arg_leaves]
    static = tuple(None if a else _Static(leaf) for leaf, a in zip(arg_leaves, is_array,
                                                                    strict=True))
    arrays = [leaf for leaf, a in zip(arg_leaves, is_array, strict=True) if a]
    shapes = tuple(tuple(np.shape(leaf)) for leaf in leaves)
    return Problem(f, treedef, shapes, args_treedef, static), theta, arrays


def _check_scalar(problem: Problem, theta, arrays) -> None:
    """ValueError unless f returns a scalar (found by tracing f, without running it)."""
    shape = jax.eval_shape(problem.value, theta, arrays).shape
    if shape != ():
        raise ValueError(f"f(params, *args) must return a scalar (the loss), got shape "
                         f"{shape}; reduce it, e.g. with .mean() or .sum()")


class FlatProblem(NamedTuple):
    """A check's problem in flat form, in the check's dtype."""

    problem: Problem
    theta: jax.Array  # (n,) the parameters
    arrays: list  # the array leaves of args
    analytic: np.ndarray  # (n,) float64: the gradient to check
    value: float  # f(params, *args)
    analytic_dtype: str  # the precision the gradient was computed in


def flat_problem(f, params, args, grads, dtype: str) -> FlatProblem:
    """f, params and args in `dtype`, flattened; grads: None (jax.grad of f), a pytree
    shaped like params, or a function grads(params, *args) returning one."""
    if not callable(f):
        raise ValueError(f"f must be a function f(params, *args) returning a scalar, got {f!r}")
    params = jax.tree.map(lambda p: jnp.asarray(np.asarray(p, dtype=dtype)), params)
    args = cast_floats(args, dtype)
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
    return FlatProblem(problem, theta, arrays, np.asarray(flat_grad, dtype=np.float64),
                       float(value), analytic_dtype)


# --------------------------------------------------------------------------- evaluation


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


def evaluate(flat: FlatProblem, directions, index, row, eps):
    """f(theta + eps v) and f(theta - eps v) for each perturbation, each (k,) float64.

    index, row, eps: (k,): v is the unit vector e_index where index >= 0, else
    directions[row] (directions: (n_directions, n), in theta's dtype). The perturbations
    go through `_evaluate_chunk` CHUNK at a time (the last chunk padded), so every call
    compiles once per problem whatever k is.
    """
    theta = flat.theta
    k = len(index)
    pad = (-k) % CHUNK
    index = np.concatenate([np.asarray(index, np.int32), np.full(pad, -1, np.int32)])
    row = np.concatenate([np.asarray(row, np.int32), np.zeros(pad, np.int32)])
    eps = np.concatenate([np.asarray(eps, np.float64), np.zeros(pad)]).astype(theta.dtype)
    out = [np.asarray(_evaluate_chunk(flat.problem, theta, flat.arrays, directions,
                                      index[s:s + CHUNK], row[s:s + CHUNK], eps[s:s + CHUNK]),
                      dtype=np.float64)
           for s in range(0, k + pad, CHUNK)]
    out = np.concatenate(out)[:k] if k else np.zeros((0, 2))
    return out[:, 0], out[:, 1]


def sample(n: int, max_coordinates: int | None, rng: np.random.Generator) -> np.ndarray:
    """All flat indices 0..n-1, or a sorted random sample of max_coordinates of them."""
    if max_coordinates is None or n <= max_coordinates:
        return np.arange(n)
    return np.sort(rng.choice(n, max_coordinates, replace=False))


def random_directions(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k random unit vectors of length n, float64: (k, n)."""
    v = rng.standard_normal((k, n))
    return v / np.linalg.norm(v, axis=1, keepdims=True)
