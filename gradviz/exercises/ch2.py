"""Chapter 2, exploding gradients: the critical sigma_w of a tanh net with large biases,
where a ReLU net overflows float32, how far clipping by value turns a heavy-tailed
gradient; and, as code, one layer's mean-field variance map and clipping by global norm.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradviz import theory
from gradviz.data import digits
from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.flow import gradient_flow
from gradviz.models import init_mlp

# A bias scale that no chapter prints the critical sigma_w of (chapter 3 prints 0 and 0.3).
CRITICAL_BIAS = 1.0
CLIP_VALUE = 0.5


def _critical_tanh() -> float:
    return float(theory.critical_sigma_w(CRITICAL_BIAS, "tanh"))


def _overflow_layer() -> int | None:
    data = digits(256)
    params = init_mlp(jax.random.PRNGKey(0), 64, 128, 64, 10, init="he", scale=6.0)
    return gradient_flow(params, data.x, data.y, "relu").first_nonfinite_forward


def heavy_tailed_gradient() -> dict:
    """The gradient of exercise 3: {"W": (20, 20)}, standard normal entries cubed."""
    return {"W": jax.random.normal(jax.random.PRNGKey(1), (20, 20)) ** 3}


def _clip_angle() -> float:
    """Degrees between heavy_tailed_gradient() and optax.clip(CLIP_VALUE) of it (float64)."""
    gradient = heavy_tailed_gradient()
    flat = np.ravel(np.asarray(gradient["W"], np.float64))
    step = np.ravel(np.asarray(optax.clip(CLIP_VALUE).update(gradient, ())[0]["W"], np.float64))
    cosine = step @ flat / (np.linalg.norm(step) * np.linalg.norm(flat))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


# ------------------------------------------------------------------ coding exercises


def variance_map_reference(q, sigma_w, sigma_b, activation):
    """gradviz.theory.variance_map: sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2."""
    return np.asarray(theory.variance_map(q, sigma_w, sigma_b, activation))


def _variance_map_cases() -> list[dict]:
    rng = np.random.default_rng(3)
    # q != 1, sigma_w != 1 and sigma_b not 0 or 1 somewhere, so that a missing sqrt(q),
    # sigma_w where sigma_w^2 belongs or sigma_b where sigma_b^2 belongs is caught; sigmoid
    # has a mean (E[phi^2] is not its variance); q = 0 leaves only phi(0)^2 and the bias
    return [
        {"q": 2.0, "sigma_w": 1.5, "sigma_b": 0.3, "activation": "tanh"},
        {"q": rng.uniform(0.1, 4.0, size=4), "sigma_w": 2.0, "sigma_b": 0.0,
         "activation": "relu"},
        {"q": np.array([0.0, 0.5, 9.0]), "sigma_w": 3.0, "sigma_b": 0.5,
         "activation": "sigmoid"},
        {"q": 1.0, "sigma_w": 0.8, "sigma_b": 0.2, "activation": "linear"},
    ]


def clip_by_global_norm_reference(grads, max_norm):
    """optax.clip_by_global_norm(max_norm) applied to the dict of arrays `grads` (as JAX
    arrays, in JAX's default precision)."""
    grads = jax.tree.map(jnp.asarray, grads)
    return optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())[0]


def _clip_cases() -> list[dict]:
    rng = np.random.default_rng(4)
    return [
        # norm above the threshold, two leaves of different sizes: the norm is global,
        # over both, not per leaf
        {"grads": {"W": rng.normal(0, 3, (3, 4)), "b": rng.normal(0, 2, 4)},
         "max_norm": 1.0},
        # norm below the threshold: left alone (not stretched up to it)
        {"grads": {"W": rng.normal(0, 0.1, (2, 2)), "b": rng.normal(0, 0.1, 2)},
         "max_norm": 5.0},
        # one big leaf and one small one: clipping each leaf on its own keeps the small one
        {"grads": {"W": np.full((2, 3), 10.0), "b": np.array([0.3, -0.4])}, "max_norm": 2.0},
        # a zero gradient (norm 0): nothing to clip, and no 0/0
        {"grads": {"W": np.zeros((2, 2)), "b": np.zeros(2)}, "max_norm": 1.0},
    ]


EXERCISES = [
    Exercise(
        name="ch2_critical_tanh",
        question=f"tanh MLP with bias scale sigma_b = {CRITICAL_BIAS:g}: at which sigma_w "
                 "does the backpropagated signal neither grow nor shrink from layer to "
                 "layer, by mean-field theory (within 5%)?",
        hint="Mean-field theory says the factor per layer is sqrt(chi), chi = sigma_w^2 "
             "E[tanh'(z)^2] at the variance's fixed point. A bias adds variance to z and "
             "pushes units into tanh's flat tails, so sigma_w must make up for it. Try "
             "gv.theory.signal_gain_per_layer(sigma_w, sigma_b, 'tanh') for a few sigma_w "
             "and narrow it down, or read the explorer's 'Mean-field theory' line (init "
             "'gaussian', bias scale 1) while you move the init scale.",
        truth=_critical_tanh,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.05 * truth,
        because=lambda truth: f"chi = 1 at sigma_w = {truth:.3f} for sigma_b = "
                              f"{CRITICAL_BIAS:g} (1 without bias): the bias must be paid "
                              "for with larger weights.",
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
        question="A heavy-tailed gradient, g = {'W': jax.random.normal(jax.random.PRNGKey(1), "
                 f"(20, 20)) ** 3}}, clipped by value at {CLIP_VALUE:g} (optax.clip): by how "
                 "many degrees does the clipped step point away from g? (Within 2 degrees.)",
        hint="Flatten g and the clipped g into vectors u and v; the angle is "
             "arccos(u.v / (|u| |v|)), in degrees with np.degrees. Cubing makes the large "
             "coordinates much larger than the rest: which ones does clipping cut, and how "
             "much of the length did they carry?",
        truth=_clip_angle,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 2.0,
        because=lambda truth: f"{truth:.1f} degrees: clipping by value cuts the large "
                              "coordinates, which carried most of the gradient's length, "
                              "down to the threshold and keeps the small ones, so the step "
                              "turns towards the sign vector; clipping by global norm would "
                              "turn it by 0.",
    ),
    CodeExercise(
        name="ch2_variance_map",
        task="variance_map(q, sigma_w, sigma_b, activation) returns the next layer's "
             "pre-activation variance, sigma_w**2 * E[phi(sqrt(q) z)**2] + sigma_b**2 with "
             "z ~ N(0, 1), for q a number or an array (elementwise) and activation a name "
             "such as 'tanh' (without gv.theory.variance_map).",
        hint="gv.theory.gaussian_expectation(f, q) averages any f over N(0, q): which f "
             "makes that average E[phi(sqrt(q) z)^2]? (gv.get_activation(activation) gives "
             "phi.) Then scale it and add the bias' variance.",
        reference=variance_map_reference,
        cases=_variance_map_cases,
        because="q_l = sigma_w^2 E[phi(z_{l-1})^2] + sigma_b^2 is one step of the variance "
                "map: iterate it and q_l settles at the fixed point q*, where chi (and so "
                "exercise 1's critical sigma_w) is measured. The bias adds sigma_b^2 at "
                "every layer, whatever q was.",
        rtol=1e-4,
    ),
    CodeExercise(
        name="ch2_clip_by_global_norm",
        task="clip_by_global_norm(grads, max_norm) returns grads (a dict of arrays) scaled "
             "so that their global norm, sqrt of the sum of squares over every entry of "
             "every array, is at most max_norm; a dict with the same keys and shapes.",
        hint="First the global norm, one number for the whole dict; then one scale for "
             "every array: 1 where the norm is already at most max_norm, else "
             "max_norm / norm. Careful with a gradient of norm 0.",
        reference=clip_by_global_norm_reference,
        cases=_clip_cases,
        because="one factor for the whole gradient: its direction is kept and its norm "
                "capped at max_norm, what optax.clip_by_global_norm does.",
    ),
]
