"""Bad input across the public API and the explorers: each row is met by a ValueError
whose message says what was expected. docs/bad_inputs.md lists the same rows; a test
keeps the two in step."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
import pytest

import gradviz as gv
from gradviz import attribution, examples, gradcheck, widgets

matplotlib.use("Agg")

KEY = jax.random.PRNGKey(0)
X = jnp.ones((4, 5))
Y = jnp.zeros(4, jnp.int32)


def mlp():
    return gv.init_mlp(KEY, 5, 8, 3, 2)


def rnn():
    return gv.init_rnn(KEY, 2, 4, 1)


def two_layer():
    return examples.two_layer_example(KEY)


def square_loss(params):
    return jnp.sum(params["w"] ** 2)


def tanh_sum(x):
    return jnp.tanh(x).sum()


X6 = jnp.linspace(-1.0, 1.5, 6)


# (what goes wrong, the call, a regex the message must match)
BAD_INPUTS = [
    ("unknown activation name", lambda: gv.apply_mlp(mlp(), X, "swish"),
     "unknown activation 'swish'; expected one of: linear, sigmoid, tanh, relu"),
    ("unknown init scheme", lambda: gv.init_mlp(KEY, 5, 8, 3, 2, init="kaiming"),
     "unknown init scheme 'kaiming'; expected one of: gaussian, xavier, he, orthogonal"),
    ("unknown norm", lambda: gv.apply_mlp(mlp(), X, norm="group"),
     "unknown norm 'group'; expected one of: none, batch, layer"),
    ("unknown RNN cell", lambda: gv.init_rnn(KEY, 2, 4, 1, cell="lstm"),
     "unknown RNN cell 'lstm'; expected one of: vanilla, gru"),
    ("unknown loss", lambda: gv.gradient_flow(mlp(), X, Y, loss="hinge"),
     "unknown loss 'hinge'; expected one of: cross_entropy, mse"),
    ("depth 0", lambda: gv.init_mlp(KEY, 5, 8, 0, 2), r"depth must be in \[1, 256\], got 0"),
    ("depth not an integer", lambda: gv.init_mlp(KEY, 5, 8, 2.5, 2),
     "depth must be an integer"),
    ("depth beyond the parameters", lambda: gv.gradient_flow(mlp(), X, Y, depth=4),
     r"depth must be in \[1, 3\], got 4"),
    ("width 0", lambda: gv.init_mlp(KEY, 5, 0, 3, 2), r"width must be in \[1, 4096\]"),
    ("negative init scale", lambda: gv.init_mlp(KEY, 5, 8, 3, 2, scale=-1.0),
     "init scale must be a finite number >= 0"),
    ("NaN bias scale", lambda: gv.init_mlp(KEY, 5, 8, 3, 2, bias_scale=float("nan")),
     "bias scale must be a finite number >= 0"),
    ("input with the wrong number of features", lambda: gv.apply_mlp(mlp(), X[:, :4]),
     r"x must have last dimension 5 \(batch, in_dim\), got shape \(4, 4\)"),
    ("one example without a batch axis", lambda: gv.apply_mlp(mlp(), X[0]),
     r"x must have 2 dimensions \(batch, in_dim\), got shape \(5,\)"),
    ("integer inputs", lambda: gv.apply_mlp(mlp(), jnp.ones((4, 5), jnp.int32)),
     "x must hold floating-point numbers, got dtype int32"),
    ("NaN in the inputs", lambda: gv.gradient_flow(mlp(), X.at[0, 0].set(jnp.nan), Y),
     "x contains NaN or inf; expected finite numbers"),
    ("float labels for cross-entropy", lambda: gv.gradient_flow(mlp(), X, jnp.zeros(4)),
     r"cross_entropy needs integer labels y of shape \(4,\)"),
    ("label out of range", lambda: gv.gradient_flow(mlp(), X, jnp.full(4, 2)),
     r"labels must be in \[0, 1\]"),
    ("sequence length beyond the input", lambda: gv.apply_rnn(rnn(), jnp.ones((1, 5, 2)),
                                                              length=6),
     r"length must be in \[1, 5\], got 6"),
    ("sequence without a time axis", lambda: gv.apply_rnn(rnn(), jnp.ones((1, 2))),
     r"xs must have 3 dimensions \(batch, time, in_dim\)"),
    ("training for 0 steps", lambda: gv.train.train_mlp(KEY, mlp(), X, Y, optax.sgd(0.1), 0),
     "steps must be"),
    ("unknown exercise", lambda: gv.exercises.check("ch9_x", 1),
     "unknown exercise 'ch9_x'; expected one of: ch1_vanishing_depth"),
    ("negative sigma_w for the theory", lambda: gv.theory.chi(-1.0, 0.0, "tanh"),
     "sigma_w must be a finite number >= 0"),
    ("loss slice with no points", lambda: gv.flow.loss_slice(lambda p: 0.0, {}, {}, []),
     "alphas must be a non-empty 1-D array"),
    ("explorer depth out of range", lambda: widgets.FlowExplorer(depth=65),
     r"depth must be in \[1, 64\], got 65"),
    ("explorer width not offered", lambda: widgets.FlowExplorer(width=100),
     "unknown width 100; expected one of: 32, 64, 128, 256"),
    ("explorer model unknown", lambda: widgets.FlowExplorer(model="transformer"),
     "unknown model 'transformer'; expected one of: MLP"),
    ("explorer init scale out of range", lambda: widgets.FlowExplorer(scale=50.0),
     r"init scale must be in \[0.1, 15.0\], got 50.0"),
    ("RNN explorer recurrent scale out of range",
     lambda: widgets.RNNExplorer(recurrent_scale=3.0),
     r"recurrent scale must be in \[0.2, 2.0\], got 3.0"),
    ("clip explorer threshold out of range", lambda: widgets.ClipExplorer(threshold=0.0),
     r"clip threshold must be in \[0.01, 100.0\], got 0.0"),
    ("gradient check of a non-scalar f",
     lambda: gradcheck.check_gradients(lambda p: p["w"] ** 2, {"w": jnp.ones(3)}),
     r"f\(params, \*args\) must return a scalar \(the loss\), got shape \(3,\)"),
    ("gradient check of integer params",
     lambda: gradcheck.check_gradients(lambda q: jnp.sum(q["n"]), {"n": jnp.arange(3)}),
     "params must hold floating-point arrays; leaf 'n' has dtype int32"),
    ("gradient check with grads missing a leaf",
     lambda: gradcheck.check_gradients(
         examples.two_layer_loss, two_layer()[0], *two_layer()[1:],
         grads={"W1": two_layer()[0]["W1"]}),
     "grads must have the same structure as params"),
    ("gradient check with a negative step",
     lambda: gradcheck.check_gradients(square_loss, {"w": jnp.ones(3)}, eps=-1e-3),
     "eps must be a finite number > 0, got -0.001"),
    ("gradient check in an unknown dtype",
     lambda: gradcheck.check_gradients(square_loss, {"w": jnp.ones(3)}, dtype="float16"),
     "unknown dtype 'float16'; expected one of: float64, float32"),
    ("gradient check stacking a leaf that does not exist",
     lambda: gradcheck.check_gradients(square_loss, {"w": jnp.ones(3)}, stacked=("W",)),
     "stacked names 'W', which is not a leaf; the leaves are: w"),
    ("layer-by-layer check with fewer params than layers",
     lambda: gradcheck.check_layers([lambda p, h: h, lambda p, h: h], [{}], X),
     "layers and params must be lists of the same, non-zero length; got 2 layers and 1"),
    ("unknown planted bug", lambda: examples.two_layer_backward(*two_layer(), bug="typo"),
     "unknown bug 'typo'; expected one of: "),
    ("unknown integration method",
     lambda: attribution.integrated_gradients(tanh_sum, X6, method="simpson"),
     "unknown integration method 'simpson'; expected one of: gauss-legendre, left, middle"),
    ("integration steps 0", lambda: attribution.integrated_gradients(tanh_sum, X6, n_steps=0),
     r"n_steps must be in \[1, 10000\], got 0"),
    ("baseline of the wrong shape",
     lambda: attribution.integrated_gradients(tanh_sum, X6, baseline=jnp.zeros(5)),
     r"baseline must have x's shape \(6,\), got shape \(5,\)"),
    ("attribution of a non-scalar f", lambda: attribution.saliency(lambda x: x * 2, X6),
     r"f must return a scalar .*got shape \(6,\)"),
    ("SmoothGrad without a random key", lambda: attribution.smoothgrad(tanh_sum, X6, 0),
     "key must be a JAX random key such as jax.random.PRNGKey"),
    ("step-size explorer eps out of range", lambda: widgets.StepSizeExplorer(eps=10.0),
     r"eps must be in \[1e-12, 1.0\], got 10.0"),
    ("phase diagram with no weight scales",
     lambda: gv.phase.phase_diagram(mlp(), X, Y, sigma_ws=[], sigma_bs=[0.0]),
     "sigma_ws must be a non-empty 1-D array of finite numbers >= 0, got"),
    ("Jacobian spectra of depth 0", lambda: gv.isometry.jacobian_spectra(KEY, 8, 0),
     r"max_depth must be in \[1, 1024\], got 0"),
    ("weight clipping at 0", lambda: gv.clipping.clip_weights(0.0),
     "weight clipping limit must be a finite number > 0, got 0.0"),
    ("phase-diagram explorer activation without a theory line",
     lambda: widgets.PhaseDiagramExplorer(activation="sigmoid"),
     "unknown activation 'sigmoid'; expected one of: tanh, relu"),
]


@pytest.mark.parametrize("what, call, message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_docs_table_lists_exactly_these_rows():
    table = (Path(__file__).parents[1] / "docs" / "bad_inputs.md").read_text()
    rows = re.findall(r"^\| (?!what goes wrong|---)(.+?) \|", table, flags=re.MULTILINE)
    assert rows == [row[0] for row in BAD_INPUTS]
    assert len(rows) >= 20


def test_overflow_is_not_bad_input():
    """Overflow inside a network is a lesson: reported, never raised."""
    params = gv.init_mlp(KEY, 5, 8, 64, 2, init="he", scale=20.0)
    flow = gv.gradient_flow(params, X, Y, "relu")
    assert flow.first_nonfinite_forward is not None
    assert not np.isfinite(flow.loss)


def test_network_arguments_are_checked_in_order_with_each_ones_message():
    from gradviz.validate import check_network_args

    check_network_args({"width": (8, 16)}, {"init scale": 0.0})  # a zero scale is allowed
    with pytest.raises(ValueError, match=r"width must be in \[1, 16\], got 32"):
        check_network_args({"width": (32, 16)}, {"init scale": -1.0})
    with pytest.raises(ValueError, match="depth must be an integer"):
        check_network_args({"depth": (2.5, 16)}, {})
    with pytest.raises(ValueError, match="init scale must be a finite number >= 0"):
        check_network_args({"width": (8, 16)}, {"init scale": float("inf")})
