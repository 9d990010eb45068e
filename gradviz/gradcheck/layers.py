"""Checking a layered function one layer at a time: `check_layers`, and the gradviz MLP
as layers (`mlp_layers`, `check_mlp_layers`).

The chain rule is local, so a deep network whose end-to-end gradient is too small to
resolve can still be certified one layer at a time. Each layer y = layer(params, h) is
checked at its input h from the forward pass (float64): the gradient of the scalar
<u, layer(params, h)>, for a random cotangent u with unit-scale entries (|N(0, 1)| with
the signs of the layer's output, so that the sum does not cancel), is the layer's
vector-Jacobian product, and every quantity in it is of order one. A full gradient (of a
loss at the end of the layers) is then compared with the chain rule of the checked VJPs.
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.activations import get_activation
from gradviz.gradcheck.end_to_end import check_gradients
from gradviz.gradcheck.errors import DEFAULT_EPS, leaf_verdict, relative_error
from gradviz.gradcheck.evaluation import cast_floats, dtype_of, path_name, to_float64
from gradviz.gradcheck.report import LayerwiseReport, LeafCheck, worst_row
from gradviz.losses import loss_value
from gradviz.models import apply_mlp, mlp_depth, mlp_options, normalize


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
    precision = "float64" if dtype_of(supplied).itemsize >= 8 else "float32"
    band = leaf_verdict(float(error.max()) if error.size else 0.0, a.size, dtype=precision)
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
        params = [to_float64(p) for p in params]
        inputs, h = [], to_float64(x)
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
    return LayerwiseReport(passed, tuple(rows), tuple(supplied), worst_row(rows + supplied),
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
            rows.append(_supplied_row(f"{name} / {path_name(path)}", g, w))
    return rows


# ------------------------------------------------------------- the gradviz MLP, layer by layer


class MLPLayer(NamedTuple):
    """One hidden layer of a gradviz MLP as a function of (params, h):
    phi(N(h @ params["W"] + params["b"])), plus h when residual; h: (batch, fan_in), N =
    gradviz.models.normalize.
    A NamedTuple, so that equal layers compare equal and share their compiled code."""

    activation: str
    norm: str = "none"
    residual: bool = False

    def __call__(self, params, h):
        out = get_activation(self.activation)(normalize(h @ params["W"] + params["b"],
                                                        self.norm))
        return out + h if self.residual else out


def affine_layer(params, h):
    """A linear layer as a function of (params, h): h @ params["W"] + params["b"], for h:
    (batch, fan_in); the MLP's read-out in `mlp_layers`."""
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
    layers = [first] + [hidden] * (depth - 1) + [affine_layer]
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
    (`gradviz.losses.loss_value`) as the last layer ("loss").

    grads: a gradient of the loss shaped like params (e.g. a hand-written or corrupted
    one), or a function grads(params, x, y, activation, residual, norm) returning one
    (called in float64); it is split per layer by `mlp_layers` and compared with the
    chain rule of the checked layers. The layers are first checked to compose to
    `gradviz.apply_mlp` (in float64).
    """
    names, layers, layer_params = mlp_layers(params, activation, residual, norm)
    with jax.enable_x64(True):
        x64, params64 = to_float64(x), to_float64(params)
        y64 = cast_floats(y, np.float64)
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
