"""Chapter 1, vanishing gradients: how deep a sigmoid net can go, which view of a linear
net's gradient shrinks, and the GRU update-gate bias that keeps a long memory.
"""

from functools import cache

import jax
import numpy as np

from gradviz.data import adding_problem, digits
from gradviz.exercises.base import Exercise
from gradviz.flow import gradient_flow, rnn_gradient_flow
from gradviz.models import init_mlp
from gradviz.rnn import init_rnn


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


def _linear_views() -> dict:
    data = digits(256)
    params = init_mlp(jax.random.PRNGKey(0), 64, 128, 30, 10, init="gaussian", scale=0.8)
    flow = gradient_flow(params, data.x, data.y, "linear")
    return {
        "signal": flow.signal_norm[0] / flow.signal_norm[-1],
        "weight_grad": flow.weight_grad_norm[1] / flow.weight_grad_norm[-1],
    }


def _shrinks(views: dict) -> str:
    small = {name for name, ratio in views.items() if ratio < 0.1}
    return {frozenset(): "neither", frozenset({"signal"}): "signal",
            frozenset({"weight_grad"}): "weight_grad"}.get(frozenset(small), "both")


def _linear_views_explained() -> str:
    views = _linear_views()
    return ("the signal shrinks 0.8x per layer going down, but the activations h_{l-1} "
            "that multiply it shrink 0.8x per layer going up: their product, the weight "
            f"gradient, stays level (bottom / top: signal {views['signal']:.1e}, weight "
            f"gradient {views['weight_grad']:.2f}).")


def _gru_ratio(bias: float) -> float:
    xs, y = adding_problem(jax.random.PRNGKey(0), 16, 50)
    params = init_rnn(jax.random.PRNGKey(0), 2, 32, 1, cell="gru", update_gate_bias=bias)
    flow = rnn_gradient_flow(params, xs, y)
    return float(flow.signal_norm[0] / flow.signal_norm[-1])


@cache
def _gru_threshold_bias() -> float:
    """The smallest update-gate bias (to 0.05, between -2 and 6) at which step 1 gets at
    least 1% of step 50's gradient in `_gru_ratio`'s GRU: a grid of 0.25, then of 0.05
    below the first grid point that is enough."""

    def first_enough(biases):
        enough = [_gru_ratio(float(b)) >= 0.01 for b in biases]
        return float(biases[enough.index(True)]) if any(enough) else None

    coarse = first_enough(np.round(np.arange(-2.0, 6.0 + 1e-9, 0.25), 2))
    if coarse is None:
        raise RuntimeError("no update-gate bias up to 6 keeps 1% of the gradient")
    return first_enough(np.round(np.arange(coarse - 0.2, coarse + 1e-9, 0.05), 2))


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
        question="Deep linear MLP (30 layers, Gaussian init, scale 0.8): which of "
                 "'signal', 'weight_grad', 'both', 'neither' is more than 10x smaller "
                 "at the bottom of the network (layers 1-2) than at layer 30?",
        hint="dL/dW_l = h_{l-1}^T (dL/dz_l): one factor comes from the backward pass, the "
             "other from the forward pass. What does a scale of 0.8 do to h_l going up?",
        truth=lambda: _shrinks(_linear_views()),
        accepts=lambda answer, truth: str(answer).strip().lower() == truth,
        because=lambda truth: _linear_views_explained(),
    ),
    Exercise(
        name="ch1_gru_bias",
        question="GRU, hidden 32, recurrent scale 1, 16 adding-problem sequences of length "
                 "50 (gv.data.adding_problem(jax.random.PRNGKey(0), 16, 50), init key "
                 "PRNGKey(0)): what is the smallest update-gate bias at which step 1 gets at "
                 "least 1% of step 50's gradient? (Within 0.25.)",
        hint="A positive bias pushes the update gate z_t towards 1, and h_t = z_t * h_{t-1} "
             "+ (1 - z_t) * n_t then copies h_{t-1} forward. Measure step 1's share, "
             "signal_norm[0] / signal_norm[-1] of gv.rnn_gradient_flow, for a few biases "
             "(gv.init_rnn(..., cell='gru', update_gate_bias=b)) and narrow it down: "
             "bias 0 is far too small, bias 3 more than enough.",
        truth=_gru_threshold_bias,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.25,
        because=lambda truth: f"step 1's share passes 1% at bias {truth:.2f}, where the gate "
                              f"starts near sigmoid(b) = {1 / (1 + np.exp(-truth)):.2f}: from "
                              "there the copy term carries the gradient back.",
    ),
]
