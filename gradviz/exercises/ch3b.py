"""Chapter 3b, training live: frozen layers of a deep sigmoid net, and the largest stable
learning rate of a ReLU net (both trained with `gradviz.live`); and two functions to write:
every layer's update ratio, and one Adam step.
"""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.live import Architecture, Hyper, make_task, start_run, train_steps

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


# ------------------------------------------------------------------ coding exercises


def update_ratios_reference(before, after):
    """||W_l(after) - W_l(before)|| / ||W_l(before)|| (Frobenius norms) of every hidden layer
    of an MLP's parameters (gradviz.init_mlp's dict): layer 1 is "W_in": (in, width), layers
    2.. are "W": (depth - 1, width, width); biases and the read-out are not layers here.
    Returns (depth,)."""
    def layers(params):
        return [np.asarray(params["W_in"], np.float64),
                *np.asarray(params["W"], np.float64)]

    return np.array([np.linalg.norm(a - b) / np.linalg.norm(b)
                     for b, a in zip(layers(before), layers(after), strict=True)])


def _update_ratio_cases() -> list[dict]:
    rng = np.random.default_rng(5)

    def mlp(scales):
        """An MLP's parameters with 2 inputs, width 4, len(scales) layers, 2 classes."""
        return {"W_in": scales[0] * rng.normal(size=(2, 4)), "b_in": rng.normal(size=4),
                "W": np.stack([s * rng.normal(size=(4, 4)) for s in scales[1:]]),
                "b": rng.normal(size=(len(scales) - 1, 4)), "W_out": rng.normal(size=(4, 2)),
                "b_out": rng.normal(size=2)}

    def step(params, size):
        """params after a random step of relative size about `size` in every leaf."""
        return {k: v + size * np.abs(v).mean() * rng.normal(size=v.shape)
                for k, v in params.items()}

    small = mlp([1.0, 1.0, 1.0])
    scaled = mlp([10.0, 1.0, 0.01])  # layers of very different sizes
    turned = mlp([1.0, 1.0])
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    rotated = {**turned, "W": turned["W"] @ q}  # the same norms, other weights
    return [
        {"before": small, "after": step(small, 0.3)},
        {"before": scaled, "after": step(scaled, 1e-2)},
        {"before": turned, "after": rotated},
    ]


def adam_step_reference(grad, m, v, t, lr, b1, b2, eps):
    """Step t (1, 2, ...) of optax.adam(lr, b1, b2, eps) on one array, in float64: grad, m
    (first moment), v (second moment), all of the same shape, m and v as after step t - 1.
    Returns (update, new m, new v); the new parameter is param + update."""
    with jax.enable_x64(True):
        grad, m, v = (jnp.asarray(a, jnp.float64) for a in (grad, m, v))
        adam = optax.adam(lr, b1=b1, b2=b2, eps=eps)
        state = (optax.ScaleByAdamState(count=jnp.asarray(t - 1, jnp.int32), mu=m, nu=v),
                 optax.EmptyState())
        update, (adam_state, _) = adam.update(grad, state)
        return np.asarray(update), np.asarray(adam_state.mu), np.asarray(adam_state.nu)


def _adam_cases() -> list[dict]:
    rng = np.random.default_rng(6)
    moments = rng.normal(size=5) * 0.1, rng.uniform(0.01, 0.1, size=5)
    return [
        {"grad": np.array([1.0, -2.0, 1e-3, 1e-12, -1e-10]), "m": np.zeros(5),
         "v": np.zeros(5), "t": 1, "lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
        {"grad": rng.normal(size=5), "m": moments[0], "v": moments[1], "t": 3, "lr": 0.01,
         "b1": 0.9, "b2": 0.999, "eps": 1e-8},
        {"grad": 1e-9 * rng.normal(size=5), "m": np.zeros(5), "v": np.zeros(5), "t": 1,
         "lr": 3e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8},  # every gradient far below eps
        {"grad": rng.normal(size=(2, 3)), "m": 0.1 * rng.normal(size=(2, 3)),
         "v": rng.uniform(0.5, 1.0, size=(2, 3)), "t": 100, "lr": 0.1, "b1": 0.8, "b2": 0.99,
         "eps": 1e-3},
    ]


EXERCISES = [
    Exercise(
        name="ch3b_frozen_layers",
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
                              "about 4 times less, so only the last layer or two come near "
                              "the healthy 1e-3.",
    ),
    Exercise(
        name="ch3b_stable_lr",
        question="ReLU MLP of depth 8, width 64, He init, SGD in batches of 64 for 200 steps on "
                 "the moons: the largest learning rate among 0.03, 0.1, 0.3, 1 and 3 at "
                 "which no step's loss or gradient is inf or NaN?",
        hint="Train with gradviz.live from jax.random.PRNGKey(0) at each learning rate, "
             "largest first, and look at log.nonfinite.any() (the explorer draws other "
             "seeds, and its slider's values are not exactly these).",
        truth=_ch3b_stable_lr,
        accepts=lambda answer, truth: np.isclose(float(answer), truth),
        because=lambda truth: f"{truth:g}: at the next learning rate a loss or gradient "
                              "becomes inf or NaN within the first few steps: each step "
                              "overshoots by more than it corrects, and the growth compounds "
                              "until float32 overflows (the step size, not the depth, blows "
                              "up here).",
    ),
    CodeExercise(
        name="ch3b_update_ratios",
        task="update_ratios(before, after) returns every hidden layer's update ratio "
             "||W_l(after) - W_l(before)|| / ||W_l(before)|| (Frobenius norms) for two "
             "parameter dicts of an MLP as gradviz.init_mlp makes them: layer 1 is "
             "before['W_in']: (inputs, width), layers 2 to depth are before['W'][l - 2]: the "
             "stack (depth - 1, width, width); biases and 'W_out' are not hidden layers. "
             "Returns an array with one ratio per layer in the dict: (1 + len(before['W']),).",
        hint="Put the layers in one list, [before['W_in'], *before['W']], and the same for "
             "after; then np.linalg.norm of each difference, divided by the norm of the "
             "layer before the step. The norm of the difference is not the difference of "
             "the norms: a step can turn the weights without changing their size.",
        reference=update_ratios_reference,
        cases=_update_ratio_cases,
        because="each layer's step is measured against that layer's own size, which is "
                "what train_steps records as update_ratio (and what the 1e-3 rule of thumb "
                "is about).",
    ),
    CodeExercise(
        name="ch3b_adam_step",
        task="adam_step(grad, m, v, t, lr, b1, b2, eps) makes step t (counting from 1) of "
             "optax.adam(lr, b1, b2, eps) on one array: m = b1 m + (1 - b1) grad, v = b2 v + "
             "(1 - b2) grad^2, their bias-corrected m_hat = m / (1 - b1^t) and v_hat = v / "
             "(1 - b2^t), and the update -lr m_hat / (sqrt(v_hat) + eps). grad, m and v have "
             "the same shape; return the tuple (update, new m, new v).",
        hint="Update m and v first, then correct them with the step number t (1 on the "
             "first step, where m_hat = grad and v_hat = grad^2). eps is added after the "
             "square root, not inside it, and the update has a minus sign.",
        reference=adam_step_reference,
        cases=_adam_cases,
        because="where |grad| is far above eps, Adam's first step is about lr whatever the "
                "gradient's size; far below eps it is lr * grad / eps: a gradient of 1e-12 "
                "still moves its weight by only 1e-4 lr. That is why Adam does not rescue "
                "a vanished gradient.",
        atol=1e-10,
    ),
]
