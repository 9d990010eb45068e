"""Chapter 2, exploding gradients: the critical sigma_w of a tanh net with biases, where a
ReLU net overflows float32, and which clipping keeps the gradient's direction.
"""

import jax
import numpy as np
import optax

from gradviz import theory
from gradviz.data import digits
from gradviz.exercises.base import Exercise
from gradviz.flow import gradient_flow
from gradviz.models import init_mlp


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


EXERCISES = [
    Exercise(
        name="ch2_critical_tanh",
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
    Exercise(
        name="ch2_overflow_layer",
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
    Exercise(
        name="ch2_clip_direction",
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
]
