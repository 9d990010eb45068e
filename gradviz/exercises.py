"""Checked exercises: `check(name, answer)` compares an answer with the truth, computed
live by gradviz (never stored), and says what is right, or gives a hint.

In a notebook: `gv.exercises.check("ch1_vanishing_depth", 17)`. The message never
contains the solution of a wrong answer; `hint(name)` repeats the hint.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import numpy as np
import optax

from gradviz import theory
from gradviz.data import adding_problem, digits
from gradviz.flow import gradient_flow, rnn_gradient_flow
from gradviz.models import init_mlp, init_rnn


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer; shows as its message in a notebook."""

    correct: bool
    message: str

    def __repr__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.correct


@dataclass(frozen=True)
class Exercise:
    question: str
    hint: str
    truth: Callable[[], object]  # computes the reference answer
    accepts: Callable[[object, object], bool]  # (answer, truth) -> right?
    because: Callable[[object], str]  # why, shown with a right answer


# --------------------------------------------------------------------------- chapter 1


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


# --------------------------------------------------------------------------- chapter 2


def _critical_tanh() -> float:
    return float(theory.critical_sigma_w(0.3, "tanh"))


def _overflow_layer() -> int | None:
    data = digits(256)
    params = init_mlp(jax.random.PRNGKey(0), 64, 128, 64, 10, init="he", scale=6.0)
    return gradient_flow(params, data.x, data.y, "relu").first_nonfinite_forward


def _direction_keeper() -> str:
    """The optax clipping whose output is parallel to its input, measured on a gradient."""
    gradient = {"W": jax.random.normal(jax.random.PRNGKey(1), (20, 20)) ** 3}
    flat = np.ravel(gradient["W"])
    kept = []
    for name, clip in (("value", optax.clip(0.5)), ("global norm",
                                                    optax.clip_by_global_norm(0.5))):
        step = np.ravel(clip.update(gradient, ())[0]["W"])
        if step @ flat / (np.linalg.norm(step) * np.linalg.norm(flat)) > 1 - 1e-6:
            kept.append(name)
    return " and ".join(kept) or "neither"


EXERCISES: dict[str, Exercise] = {
    "ch1_vanishing_depth": Exercise(
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
    "ch1_which_view_vanishes": Exercise(
        question="Deep linear MLP (30 layers, Gaussian init, scale 0.8): which of "
                 "'signal', 'weight_grad', 'both', 'neither' is more than 10x smaller "
                 "at the bottom of the network (layers 1-2) than at layer 30?",
        hint="dL/dW_l = h_{l-1}^T (dL/dz_l): one factor comes from the backward pass, the "
             "other from the forward pass. What does a scale of 0.8 do to h_l going up?",
        truth=lambda: _shrinks(_linear_views()),
        accepts=lambda answer, truth: str(answer).strip().lower() == truth,
        because=lambda truth: _linear_views_explained(),
    ),
    "ch1_gru_bias": Exercise(
        question="GRU, hidden 32, adding-problem sequences of length 50: give an "
                 "update-gate bias at which step 1 gets at least 1% of step 50's gradient.",
        hint="A large positive bias pushes the update gate z_t towards 1, and "
             "h_t = z_t * h_{t-1} + (1 - z_t) * n_t then copies h_{t-1} forward.",
        truth=lambda: None,
        accepts=lambda answer, truth: _gru_ratio(float(answer)) >= 0.01,
        because=lambda truth: "with the gate near 1 the GRU copies its state forward, and the "
                              "gradient flows back along the copy.",
    ),
    "ch2_critical_tanh": Exercise(
        question="tanh MLP with bias scale sigma_b = 0.3: at which sigma_w does the "
                 "backpropagated signal neither grow nor shrink from layer to layer "
                 "(within 5%)?",
        hint="Mean-field theory says the factor per layer is sqrt(chi), chi = sigma_w^2 "
             "E[tanh'(z)^2]. A bias adds variance to z and pushes units into tanh's flat "
             "tails. Try gv.theory.signal_gain_per_layer for a few sigma_w, or the explorer "
             "(init 'gaussian', bias scale 0.3) and the summary line.",
        truth=_critical_tanh,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.05 * truth,
        because=lambda truth: f"chi = 1 at sigma_w = {truth:.3f} for sigma_b = 0.3 (1 without "
                              "bias): the bias must be paid for with larger weights.",
    ),
    "ch2_overflow_layer": Exercise(
        question="ReLU MLP of depth 64, width 128, He init with scale 6 (each layer "
                 "multiplies the activations by about 6), on 256 digits: at which layer do "
                 "the activations first overflow float32?",
        hint="float32 holds numbers up to about 3.4e38. Solve 6**l ~ 3.4e38 for l, then "
             "check with gv.gradient_flow(...).first_nonfinite_forward.",
        truth=_overflow_layer,
        accepts=lambda answer, truth: abs(int(answer) - truth) <= 1,
        because=lambda truth: f"the activations are inf from layer {truth} on; "
                              "log(3.4e38) / log(6) = "
                              f"{np.log(np.finfo(np.float32).max) / np.log(6):.1f}, and the "
                              "largest units run ahead of the typical one.",
    ),
    "ch2_clip_direction": Exercise(
        question="Which of optax's clippings keeps the gradient's direction: 'value' "
                 "(optax.clip) or 'global norm' (optax.clip_by_global_norm)?",
        hint="Clip a gradient with both, then compare each result with the gradient: the "
             "cosine of the angle is 1 when the direction is kept.",
        truth=_direction_keeper,
        accepts=lambda answer, truth: str(answer).strip().lower().replace("_", " ") in
        ({truth, truth.replace("global ", "")}),
        because=lambda truth: f"{truth}: it rescales the whole gradient by one number; "
                              "clipping by value caps each coordinate on its own, which "
                              "turns the step.",
    ),
}


def check(name: str, answer) -> Feedback:
    """Compare `answer` with exercise `name`'s answer, computed now."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; expected one of: {', '.join(EXERCISES)}")
    exercise = EXERCISES[name]
    if answer is None or answer is ...:
        return Feedback(False, f"No answer yet. {exercise.question}\nHint: {exercise.hint}")
    truth = exercise.truth()
    try:
        right = bool(exercise.accepts(answer, truth))
    except (TypeError, ValueError):
        return Feedback(False, f"Could not read the answer {answer!r}. {exercise.question}")
    if right:
        return Feedback(True, f"Right: {exercise.because(truth)}")
    return Feedback(False, f"Not quite. Hint: {exercise.hint}")


def hint(name: str) -> str:
    """The hint of exercise `name`."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; expected one of: {', '.join(EXERCISES)}")
    return EXERCISES[name].hint
