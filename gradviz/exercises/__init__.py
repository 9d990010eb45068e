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

from gradviz import attribution as _attribution
from gradviz import gradcheck as _gradcheck
from gradviz import theory
from gradviz.data import adding_problem, digits
from gradviz.flow import gradient_flow, rnn_gradient_flow
from gradviz.live import Architecture, Hyper, make_task, start_run, train_steps
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


# --------------------------------------------------------------------------- chapter 5



def _ch5_trapezoid_miss(n: int = 20) -> float:
    """The fraction of f(x) - f(x') that IG misses, on a linear f, with a trapezoid rule
    whose n points all weigh 1/n except the halved ends."""
    weights = np.full(n, 1.0 / n)
    weights[[0, -1]] /= 2
    rule = _attribution.Quadrature(np.linspace(0.0, 1.0, n), weights)
    w = jax.numpy.linspace(-1.0, 2.0, 64)
    x = digits(1).x[0]
    ig = _attribution.integrated_gradients_with_rule(lambda v: v @ w, x, None, rule)
    return float(1 - ig.sum() / (x @ w))


def _ch5_logit():
    """The logit of class 3 of a tanh MLP (width 64, depth 2, key 0) in float64, and the
    first digit: call inside jax.enable_x64(True)."""
    params = init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)
    params = jax.tree.map(lambda a: a.astype(np.float64), params)
    return _attribution.class_logit(params, 3, "tanh"), digits(1).x[0].astype(np.float64)


def _ch5_error(method: str, n_steps: int) -> float:
    with jax.enable_x64(True):
        f, x = _ch5_logit()
        ig = _attribution.integrated_gradients(f, x, n_steps=n_steps, method=method)
        return abs(float(_attribution.completeness_delta(f, ig, x)))


def _ch5_middle_factor() -> float:
    return _ch5_error("middle", 16) / _ch5_error("middle", 32)


@cache
def _ch5_gauss_steps(tolerance: float = 1e-6) -> int:
    return next(n for n in range(1, 65) if _ch5_error("gauss-legendre", n) < tolerance)


EXERCISES.update({
    "ch5_trapezoid_miss": Exercise(
        question="A trapezoid rule on n = 20 points that gives every point the weight 1/n "
                 "and halves the two end weights: on a linear f, what fraction of "
                 "f(x) - f(baseline) do its integrated gradients miss?",
        hint="On a linear f every gradient along the path is the same w, so IG is "
             "(x - baseline) * w times the sum of the weights. Add them up.",
        truth=_ch5_trapezoid_miss,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.05 * truth,
        because=lambda truth: f"the weights sum to 1 - {truth:.3f}, so the sum of the "
                              "attributions falls short by that fraction; spacing 1/(n - 1) "
                              "needs weights 1/(n - 1).",
    ),
    "ch5_middle_factor": Exercise(
        question="Integrated gradients with the middle (midpoint) rule: doubling the number "
                 "of steps divides the completeness error by about what factor?",
        hint="Measure it: completeness_delta with n_steps=16 and 32 (in float64: "
             "with jax.enable_x64(True)), or read two points off the steps explorer. The "
             "middle rule's error falls like 1/n^p for some p.",
        truth=_ch5_middle_factor,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.5,
        because=lambda truth: f"measured {truth:.2f}: the middle rule's error falls like "
                              "1/n^2 on a smooth f, so doubling n divides it by about 4.",
    ),
    "ch5_gauss_steps": Exercise(
        question="A tanh MLP (gv.init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)), the logit "
                 "of class 3, the first digit, zero baseline, float64: with how few "
                 "Gauss-Legendre steps is the completeness error below 1e-6?",
        hint="Loop over n_steps = 1, 2, 3, ... with attribution.integrated_gradients(f, x, "
             "n_steps=n) and attribution.completeness_delta inside "
             "`with jax.enable_x64(True):`, using attribution.class_logit(params, 3, 'tanh').",
        truth=_ch5_gauss_steps,
        accepts=lambda answer, truth: (int(answer) <= truth + 1
                                       and _ch5_error("gauss-legendre", int(answer)) < 1e-6),
        because=lambda truth: f"{truth} steps: error {_ch5_error('gauss-legendre', truth):.1e}"
                              f" (the middle rule at {truth} steps: "
                              f"{_ch5_error('middle', truth):.1e}).",
    ),
})


# --------------------------------------------------------------------------- chapter 3


def ch3_bn_batch_two() -> float:
    """The mean |z_hat| of a batch-normalised first layer on a batch of 2 digits."""
    from gradviz.activations import linear
    from gradviz.models import _first_layer

    params = init_mlp(jax.random.PRNGKey(1), 64, 32, 2, 10, init="xavier")
    _, z_hat = _first_layer(linear, "batch", digits(2).x, params["W_in"], params["b_in"])
    return float(np.mean(np.abs(z_hat)))


def ch3_isometry_top() -> float:
    """The largest singular value of a 40-layer linear orthogonal net with gain 1.05."""
    from gradviz.flow import jacobian_spectra

    return float(jacobian_spectra(jax.random.PRNGKey(0), 32, 40, "linear", "orthogonal",
                                  1.05).at(40)[0])


def ch3_weight_decay_factor() -> float:
    """w_after / w_before for one step of add_decayed_weights(0.01) + sgd(0.1), zero gradient."""
    optimizer = optax.chain(optax.add_decayed_weights(0.01), optax.sgd(0.1))
    params = {"W": np.full((3,), 2.0, np.float32)}
    zero = {"W": np.zeros((3,), np.float32)}
    updates, _ = optimizer.update(zero, optimizer.init(params), params)
    return float(optax.apply_updates(params, updates)["W"][0] / params["W"][0])


EXERCISES.update({
    "ch3_bn_batch_two": Exercise(
        question="A batch-normalised layer gets a batch of two examples: what is |z_hat|, "
                 "the absolute value of every normalised pre-activation?",
        hint="Batch norm computes, for each unit, (z - mean) / std over the batch. With two "
             "numbers a and b, what are the mean and the standard deviation?",
        truth=ch3_bn_batch_two,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.01,
        because=lambda truth: f"measured {truth:.4f}: the two values sit at mean ± std, so "
                              "each normalises to +1 or -1 (short of 1 only by the eps under "
                              "the square root). The layer keeps one bit per unit.",
    ),
    "ch3_isometry_top": Exercise(
        question="A linear network of 40 square layers with orthogonal weights of gain 1.05: "
                 "what is the largest singular value of its input-output Jacobian?",
        hint="Each orthogonal layer multiplies the length of every vector by its gain. What "
             "does a product of 40 of them do? Check with gv.flow.jacobian_spectra(key, 32, "
             "40, 'linear', 'orthogonal', 1.05).at(40).",
        truth=ch3_isometry_top,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.02 * truth,
        because=lambda truth: f"{truth:.3f} = 1.05^40, and so is the smallest: every "
                              "singular value is the same (dynamical isometry, scaled).",
    ),
    "ch3_weight_decay_factor": Exercise(
        question="SGD with learning rate 0.1 after optax.add_decayed_weights(0.01): on a step "
                 "where the loss gradient is exactly 0, by what factor is every weight "
                 "multiplied?",
        hint="add_decayed_weights(wd) adds wd * w to the gradient; SGD then subtracts "
             "lr times that. Write w_new in terms of w.",
        truth=ch3_weight_decay_factor,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 1e-5,
        because=lambda truth: f"{truth:.4f} = 1 - lr * wd: each step shrinks every weight "
                              "by the same fraction, whatever the loss says.",
    ),
})


# --------------------------------------------------------------------------- chapter 4



def _ch4_two_layer_sweep(eps_values, dtype: str = "float64", offset: float = 0.0):
    """The step-size sweep of the chapter's two-layer network (key 0), its loss plus
    `offset` (which leaves the gradient unchanged)."""
    params, x, y = _gradcheck.two_layer_example(jax.random.PRNGKey(0))

    def loss(p, x, y):
        return _gradcheck.two_layer_loss(p, x, y) + offset

    return _gradcheck.step_size_sweep(loss, params, x, y, eps_values=eps_values, dtype=dtype)


@cache
def _ch4_richardson_errors(n_directions: int = 8) -> dict:
    """eps -> the largest relative error, over random unit directions v, of Richardson's
    extrapolation (4 n(eps) - n(2 eps)) / 3 of the two-layer network's directional
    derivative (float64), n(eps) its central difference; eps = 1e-1 and 1e-2."""
    from jax.flatten_util import ravel_pytree

    params, x, y = _gradcheck.two_layer_example(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        params, x, y = jax.tree.map(lambda a: jax.numpy.asarray(np.asarray(a, np.float64)),
                                    (params, x, y))
        theta, unravel = ravel_pytree(params)

        def f(t):
            return _gradcheck.two_layer_loss(unravel(t), x, y)

        v = np.random.default_rng(0).standard_normal((n_directions, theta.size))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        exact = v @ np.asarray(jax.grad(f)(theta))

        def central(eps):
            return np.array([float(f(theta + eps * d) - f(theta - eps * d)) / (2 * eps)
                             for d in v])

        return {eps: float(np.max(np.abs((4 * central(eps) - central(2 * eps)) / 3 - exact)
                                  / np.abs(exact))) for eps in (1e-1, 1e-2)}


def _ch4_richardson_shrink() -> float:
    """How many times smaller Richardson's error is at eps = 1e-2 than at eps = 1e-1."""
    errors = _ch4_richardson_errors()
    return errors[1e-1] / errors[1e-2]


def _ch4_mystery_leaf() -> str:
    params, x, y = _gradcheck.two_layer_example(jax.random.PRNGKey(0))
    report = _gradcheck.check_gradients(
        _gradcheck.two_layer_loss, params, x, y,
        grads=lambda p, x, y: _gradcheck.two_layer_backward(p, x, y, bug="mystery"))
    return report.worst.path


_CH4_OFFSET = 1000.0  # added to the loss in exercise 3


@cache
def _ch4_float32_errors() -> dict:
    """float32 error of the central difference of the two-layer network's loss plus
    _CH4_OFFSET, at eps = 10^-k, k = 0..8."""
    eps = [10.0**-k for k in range(9)]
    return dict(zip(eps, _ch4_two_layer_sweep(eps, "float32", _CH4_OFFSET).error,
                    strict=True))


def _ch4_good_float32_eps(answer) -> bool:
    errors = _ch4_float32_errors()
    match = [err for eps, err in errors.items() if np.isclose(eps, float(answer), rtol=1e-6)]
    return bool(match) and match[0] <= 3 * min(errors.values())


EXERCISES.update({
    "ch4_richardson_shrink": Exercise(
        question="The two-layer network of this chapter, float64: how many times smaller "
                 "is the relative error of Richardson's extrapolation (4 n(eps) - n(2 eps)) "
                 "/ 3, n the central difference, at eps = 1e-2 than at eps = 1e-1?",
        hint="Write the Taylor expansion of the central difference up to its eps^4 term, "
             "and combine n(eps) and n(2 eps) as the formula does: which power of eps "
             "survives? Then measure along a random unit direction v (the exact slope is "
             "jax.grad(...) @ v), in float64.",
        truth=_ch4_richardson_shrink,
        accepts=lambda answer, truth: abs(np.log10(float(answer) / truth)) <= 0.3,
        because=lambda truth: f"measured about {truth:.0e} times: the eps^2 terms cancel, "
                              "so the error is O(eps^4), and a 10 times smaller step gives "
                              "an error about 10^4 times smaller (until round-off takes "
                              "over).",
    ),
    "ch4_mystery_leaf": Exercise(
        question="gradcheck.two_layer_backward(params, x, y, bug='mystery') has one more "
                 "planted bug. Which parameter's gradient does it corrupt (W1, b1, W2 or "
                 "b2)?",
        hint="Pass grads=lambda p, x, y: two_layer_backward(p, x, y, bug='mystery') to "
             "check_gradients and read the verdict column (or report.worst.path).",
        truth=_ch4_mystery_leaf,
        accepts=lambda answer, truth: str(answer).strip().strip("'\"[]").lower()
        == truth.lower(),
        because=lambda truth: f"{truth}: the only 'wrong' row. Its analytic value is m = 8 "
                              "times too small: d_out.mean(axis=0) already divides by m, "
                              "and the line divides once more.",
    ),
    "ch4_float32_eps": Exercise(
        question=f"The two-layer network's loss plus {_CH4_OFFSET:g} (a constant: the "
                 "gradient does not change), in float32: which power of ten, eps = 1e-8, "
                 "1e-7, ..., 1e-1 or 1, gives central differences their smallest error "
                 "(within 3x of the best)?",
        hint="The constant leaves the gradient and the truncation error (~ eps^2) as they "
             "were, but round-off grows like machine_eps |f| / eps: how much larger is |f| "
             "now, and which way does that move the step where the two errors meet? "
             "Measure with step_size_sweep(lambda p, x, y: two_layer_loss(p, x, y) + "
             f"{_CH4_OFFSET:g}, params2, x2, y2, dtype='float32', eps_values=...).",
        truth=lambda: min((e for e, err in _ch4_float32_errors().items()),
                          key=_ch4_float32_errors().get),
        accepts=lambda answer, truth: _ch4_good_float32_eps(answer),
        because=lambda truth: f"eps = {truth:g}: the constant makes |f| some hundreds of "
                              "times larger, and with it the round-off machine_eps |f| / "
                              "eps; the best step, about (machine_eps |f| / |f'''|)^(1/3), "
                              "grows by the cube root of that. A constant in the loss "
                              "changes no gradient, yet it hurts the check.",
    ),
})


# --------------------------------------------------------------------------- chapter 3b

LIVE_LEARNING_RATES = (0.03, 0.1, 0.3, 1.0, 3.0)


def _ch3b_run(arch, hyper, steps: int = 200):
    """What `steps` steps of gradviz.live recorded on the moons, from PRNGKey(0)."""
    task = make_task("moons", noise=0.2)
    return train_steps(start_run(jax.random.PRNGKey(0), task, arch, hyper), task, arch, hyper,
                       steps)[1]


@cache
def _ch3b_frozen_layers() -> int:
    log = _ch3b_run(Architecture(12, 64, "sigmoid", "xavier"), Hyper("sgd", 0.1, batch_size=64))
    return int((np.median(log.update_ratio[-50:, :12], axis=0) < 1e-5).sum())


@cache
def _ch3b_stable_lr() -> float:
    stable = [lr for lr in LIVE_LEARNING_RATES
              if not _ch3b_run(Architecture(8, 64, "relu", "he"),
                               Hyper("sgd", lr, batch_size=64)).nonfinite.any()]
    return max(stable)


EXERCISES.update({
    "ch3b_frozen_layers": Exercise(
        question="Sigmoid MLP of depth 12, width 64, Xavier init, SGD at learning rate 0.1 in "
                 "batches of 64 for 200 steps on the moons (noise 0.2): how many of its 12 "
                 "layers have a median update ratio over the last 50 steps below 1e-5?",
        hint="Run it with gradviz.live: arch = Architecture(12, 64, 'sigmoid', 'xavier'), "
             "hyper = Hyper('sgd', 0.1, batch_size=64), then train_steps(start_run("
             "jax.random.PRNGKey(0), task, arch, hyper), task, arch, hyper, 200) and take "
             "np.median(log.update_ratio[-50:, :12], axis=0), and count the layers below "
             "1e-5 (not below 1e-3: 1e-3 is the usual size of a healthy step).",
        truth=_ch3b_frozen_layers,
        accepts=lambda answer, truth: float(answer) == int(answer) and abs(int(answer) - truth)
        <= 1,
        because=lambda truth: f"{truth} of 12: each layer further from the output moves "
                              "about 4 times less, so only the last few layers reach the "
                              "healthy 1e-3.",
    ),
    "ch3b_stable_lr": Exercise(
        question="ReLU MLP of depth 8, width 64, He init, SGD in batches of 64 for 200 steps on "
                 "the moons: the largest learning rate among 0.03, 0.1, 0.3, 1 and 3 at "
                 "which no step's loss or gradient is inf or NaN?",
        hint="Train with gradviz.live from jax.random.PRNGKey(0) at each learning rate, "
             "largest first, and look at log.nonfinite.any() (the explorer draws other "
             "seeds, and its slider's values are not exactly these).",
        truth=_ch3b_stable_lr,
        accepts=lambda answer, truth: np.isclose(float(answer), truth),
        because=lambda truth: f"{truth:g}: at the next learning rate the steps overshoot, "
                              "the loss grows by orders of magnitude from step to step and "
                              "overflows within a few steps (the step size, not the depth, "
                              "blows up here).",
    ),
})
