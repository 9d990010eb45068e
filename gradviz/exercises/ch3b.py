"""Chapter 3b, training live: frozen layers of a deep sigmoid net, and the largest stable
learning rate of a ReLU net (both trained with `gradviz.live`).
"""

from functools import cache

import jax
import numpy as np

from gradviz.exercises.base import Exercise
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
                              "about 4 times less, so only the last few layers reach the "
                              "healthy 1e-3.",
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
        because=lambda truth: f"{truth:g}: at the next learning rate the steps overshoot, "
                              "the loss grows by orders of magnitude from step to step and "
                              "overflows within a few steps (the step size, not the depth, "
                              "blows up here).",
    ),
]
