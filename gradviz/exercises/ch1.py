"""Chapter 1, vanishing gradients: how deep a sigmoid net can go, which views of a ReLU
net's gradient shrink when biases hold its activations up, the GRU update-gate bias that
keeps a long memory; and, as code, sigmoid's derivative from its output and the backward
pass of one dense layer.
"""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.activations import derivative, get_activation
from gradviz.data import adding_problem, digits
from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.flow import gradient_flow, rnn_gradient_flow
from gradviz.models import first_layer, init_mlp
from gradviz.rnn import gru_update_gates, init_rnn


@cache
def _sigmoid_ratios(max_depth: int = 64) -> np.ndarray:
    """signal_norm[0] / signal_norm[-1] of a sigmoid Xavier MLP for depth 1..max_depth."""
    data = digits(256)
    params = init_mlp(jax.random.PRNGKey(0), 64, 128, max_depth, 10, init="xavier")
    ratios = []
    for depth in range(1, max_depth + 1):
        flow = gradient_flow(params, data.x, data.y, "sigmoid", depth=depth)
        ratios.append(flow.signal_norm[0] / flow.signal_norm[-1])
    return np.array(ratios)


def _vanishing_depth() -> int:
    return int(np.argmax(_sigmoid_ratios() < 1e-10)) + 1


def _relu_bias_views() -> dict:
    """Bottom / top of a 30-layer ReLU MLP, sigma_w = 1, sigma_b = 1: the signal (layer 1
    over 30) and the weight gradient (layer 2 over 30; layer 1's W reads the data)."""
    data = digits(256)
    params = init_mlp(jax.random.PRNGKey(0), 64, 128, 30, 10, init="gaussian", scale=1.0,
                      bias_scale=1.0)
    flow = gradient_flow(params, data.x, data.y, "relu")
    return {
        "signal": flow.signal_norm[0] / flow.signal_norm[-1],
        "weight_grad": flow.weight_grad_norm[1] / flow.weight_grad_norm[-1],
        "activations": flow.act_std[1] / flow.act_std[-1],
    }


def _shrinks(views: dict) -> str:
    small = {name for name in ("signal", "weight_grad") if views[name] < 0.1}
    return {frozenset(): "neither", frozenset({"signal"}): "signal",
            frozenset({"weight_grad"}): "weight_grad"}.get(frozenset(small), "both")


def _relu_bias_views_explained() -> str:
    views = _relu_bias_views()
    return ("with sigma_w = 1 a ReLU layer passes back 1/sqrt(2) of the signal, bias or "
            "not; but the bias keeps h_l at a fixed size going up (q* = 2 sigma_b^2; std of "
            f"h_2 / h_30: {views['activations']:.2f}), so the weight gradient, h_(l-1) times "
            "the backward signal, shrinks with the signal (bottom / top: signal "
            f"{views['signal']:.0e}, weight gradient {views['weight_grad']:.0e}). Without "
            "biases (section 3's linear net) the activations would shrink going up too.")


# The explorer's sequences (RNNExplorer: 16 of length 100, key 0), used at full length.
GRU_LENGTH = 100


def _gru_ratio(bias: float) -> float:
    """Step 1's share of step 100's gradient in the GRU of exercise 3 (float32)."""
    xs, y = adding_problem(jax.random.PRNGKey(0), 16, GRU_LENGTH)
    params = init_rnn(jax.random.PRNGKey(0), 2, 32, 1, cell="gru", update_gate_bias=bias)
    flow = rnn_gradient_flow(params, xs, y)
    return float(flow.signal_norm[0] / flow.signal_norm[-1])


def _gru_gates(bias: float) -> np.ndarray:
    """The update gates z_t of exercise 3's GRU: (batch, time, hidden), in float64."""
    xs, _ = adding_problem(jax.random.PRNGKey(0), 16, GRU_LENGTH)
    params = init_rnn(jax.random.PRNGKey(0), 2, 32, 1, cell="gru", update_gate_bias=bias)
    return np.asarray(gru_update_gates(params, xs), np.float64)


def _gru_bias_explained(truth: float) -> str:
    gates = _gru_gates(truth)
    mean = gates.mean()
    # the copy term's share for each unit and sequence: its gates at steps 2..100 multiplied
    best = np.exp(np.log(gates[:, 1:]).sum(axis=1)).max()
    gate_start = 1 / (1 + np.exp(-truth))
    return (f"step 1's share passes 1% at bias {truth:.2f}. The average gate there is only "
            f"{mean:.2f} (sigma(b) = {gate_start:.2f}), and 99 gates of that size multiply to "
            f"about {mean**99:.0e}, so the 1% is carried by the units whose inputs push their "
            "gate above the average: the norm of the gradient is dominated by the units that "
            f"copy best (the largest product of one unit's 99 gates: {best:.0e}).")


@cache
def _gru_threshold_bias() -> float:
    """The smallest update-gate bias (to 0.05, between -2 and 6) at which step 1 gets at
    least 1% of step 100's gradient in `_gru_ratio`'s GRU: a grid of 0.25, then of 0.05
    below the first grid point that is enough."""

    def first_enough(biases):
        enough = [_gru_ratio(float(b)) >= 0.01 for b in biases]
        return float(biases[enough.index(True)]) if any(enough) else None

    coarse = first_enough(np.round(np.arange(-2.0, 6.0 + 1e-9, 0.25), 2))
    if coarse is None:
        raise RuntimeError("no update-gate bias up to 6 keeps 1% of the gradient")
    return first_enough(np.round(np.arange(coarse - 0.2, coarse + 1e-9, 0.05), 2))


# ------------------------------------------------------------------ coding exercises


def sigmoid_derivative_reference(s):
    """sigma'(z) at z = logit(s), by gradviz's derivative of its sigmoid (in float64)."""
    with jax.enable_x64(True):
        s = jnp.asarray(s, jnp.float64)
        z = jnp.log(s) - jnp.log1p(-s)
        return np.asarray(derivative(get_activation("sigmoid"))(z))


def _sigmoid_derivative_cases() -> list[dict]:
    rng = np.random.default_rng(1)
    return [
        {"s": rng.uniform(0.05, 0.95, size=6)},
        {"s": np.array([0.5])},  # the steepest point: sigma'(0) = 1/4
        {"s": np.array([1e-3, 0.999])},  # the flat tails
        {"s": rng.uniform(0.01, 0.99, size=(3, 4))},  # any shape
    ]


def dense_backward_reference(h_prev, W, b, g):
    """(dL/dh_prev, dL/dW) of h = sigmoid(h_prev @ W + b) for an upstream dL/dh = g, by
    jax.vjp of gradviz's dense layer, models.first_layer (any shape of W; in float64)."""
    with jax.enable_x64(True):
        h_prev, W, b, g = (jnp.asarray(a, jnp.float64) for a in (h_prev, W, b, g))

        def layer(h_in, weights):
            return first_layer(h_in, weights, b, phi=get_activation("sigmoid"), norm="none")[0]

        _, pullback = jax.vjp(layer, h_prev, W)
        return tuple(np.asarray(part) for part in pullback(g))


def _dense_backward_cases() -> list[dict]:
    rng = np.random.default_rng(2)

    def case(batch, n_in, n_out, weight_scale):
        return {"h_prev": rng.uniform(0, 1, (batch, n_in)),
                "W": rng.normal(0, weight_scale / np.sqrt(n_in), (n_in, n_out)),
                "b": rng.normal(0, 0.5, n_out), "g": rng.normal(size=(batch, n_out))}

    # W is never square and batch != n_out, so a missing or extra transpose is caught;
    # large weights put units on sigmoid's tails, where sigma'(z) is far from 1/4
    return [case(2, 3, 4, 1.0), case(1, 4, 2, 1.0), case(4, 2, 3, 8.0)]


EXERCISES = [
    Exercise(
        name="ch1_vanishing_depth",
        question="Sigmoid MLP, width 128, Xavier init, 256 digits: from which depth on "
                 "does layer 1 get less than 1e-10 of the last layer's signal?",
        hint="Each layer multiplies the signal by roughly the same factor. Measure it "
             "once (signal_norm[:-1] / signal_norm[1:]), then solve factor**(depth-1) = "
             "1e-10 for depth, or move the depth slider and watch the summary line.",
        truth=_vanishing_depth,
        accepts=lambda answer, truth: abs(int(answer) - truth) <= 1,
        because=lambda truth: f"at depth {truth} layer 1 gets "
                              f"{_sigmoid_ratios()[truth - 1]:.1e} of the last layer's signal.",
    ),
    Exercise(
        name="ch1_which_view_vanishes",
        question="ReLU MLP, 30 layers of width 128, Gaussian weights with sigma_w = 1 and "
                 "biases of scale sigma_b = 1 (gv.init_mlp(key, 64, 128, 30, 10, "
                 "init='gaussian', scale=1.0, bias_scale=1.0), 256 digits): which of "
                 "'signal', 'weight_grad', 'both', 'neither' is more than 10x smaller at "
                 "the bottom of the network (the signal at layer 1; the weight gradient at "
                 "layer 2, since layer 1's W reads the data and has another shape) than at "
                 "layer 30?",
        hint="dL/dW_l = h_{l-1}^T (relu'(z_l) * g_l): one factor comes from the backward "
             "pass, the other from the forward pass. Section 7 says what sigma_w = 1 does "
             "to a ReLU net's signal going down. Going up, does h_l still shrink when every "
             "layer adds a bias of variance sigma_b^2? (The variance map: q_l = sigma_w^2 "
             "E[relu(z)^2] + sigma_b^2.) Or measure both views with gv.gradient_flow.",
        truth=lambda: _shrinks(_relu_bias_views()),
        accepts=lambda answer, truth: str(answer).strip().lower() == truth,
        because=lambda truth: f"{truth}: {_relu_bias_views_explained()}",
    ),
    Exercise(
        name="ch1_gru_bias",
        question="GRU, hidden 32, recurrent scale 1, on the recurrent explorer's 16 "
                 "adding-problem sequences at their full length, 100 steps "
                 "(gv.data.adding_problem(jax.random.PRNGKey(0), 16, 100), init key "
                 "PRNGKey(0)): what is the smallest update-gate bias at which step 1 gets "
                 "at least 1% of step 100's gradient? (Within 0.25.)",
        hint="A positive bias pushes the update gate z_t towards 1, and h_t = z_t * h_{t-1} "
             "+ (1 - z_t) * n_t then copies h_{t-1} forward. Over twice as many steps the "
             "copy term must be closer to 1. Measure step 1's share, signal_norm[0] / "
             "signal_norm[-1] of gv.rnn_gradient_flow, for a few biases "
             "(gv.init_rnn(key, 2, 32, 1, cell='gru', update_gate_bias=b)) and narrow it "
             "down, or use the explorer: cell gru, recurrent scale 1, sequence length 100, "
             "and move the update-gate bias.",
        truth=_gru_threshold_bias,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.25,
        because=_gru_bias_explained,
    ),
    CodeExercise(
        name="ch1_sigmoid_derivative",
        task="sigmoid_derivative(s) returns sigma'(z), elementwise, given only the output "
             "s = sigma(z) (an array of any shape, entries in (0, 1)).",
        hint="Differentiate sigma(z) = 1 / (1 + exp(-z)) and write the result in terms of "
             "sigma(z) itself: no exp, no z. At s = 1/2 it must give 1/4 (section 2).",
        reference=sigmoid_derivative_reference,
        cases=_sigmoid_derivative_cases,
        because="sigma'(z) = s (1 - s): the backward pass needs no exp, only the forward "
                "pass's output, and its largest value, 1/4 at s = 1/2, is the bound of "
                "section 2.",
    ),
    CodeExercise(
        name="ch1_dense_backward",
        task="dense_backward(h_prev, W, b, g) returns (g_prev, dW) for one sigmoid layer "
             "h = sigmoid(h_prev @ W + b): g = dL/dh (batch, n_out) comes from above; "
             "g_prev = dL/dh_prev (batch, n_in) and dW = dL/dW (n_in, n_out). "
             "h_prev: (batch, n_in), W: (n_in, n_out), b: (n_out,).",
        hint="delta = sigma'(z) * g (elementwise, sigma'(z) from sigma(z) as in exercise 4) "
             "has g's shape (batch, n_out). Which product of delta and W has shape "
             "(batch, n_in)? Which product of h_prev and delta has shape (n_in, n_out)? "
             "Section 1's formula, read with shapes, answers both.",
        reference=dense_backward_reference,
        cases=_dense_backward_cases,
        because="g_prev = (sigma'(z) * g) W^T is the signal handed down, one factor of "
                "section 1's product; dW = h_prev^T (sigma'(z) * g) is the weight gradient "
                "of section 3, the signal times the layer's input.",
    ),
]
