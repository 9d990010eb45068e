"""Training you can watch: an MLP trained a few steps at a time, with per-layer gradient
diagnostics recorded at every step.

    task = make_task("moons", noise=0.2)
    arch = Architecture(depth=8, width=64, activation="relu", init="he")
    hyper = Hyper(optimizer="adam", lr=1e-2)
    run = start_run(jax.random.PRNGKey(0), task, arch, hyper)
    run, log = train_steps(run, task, arch, hyper, n_steps=20)   # call again to go on

The network always holds MAX_DEPTH = 32 hidden layers; `arch.depth` uses the first ones
(the rest pass their input through, see gradviz.models), so depth is traced, and so are
the residual switch, the learning rate, the weight decay, the clipping mode and
threshold. What compiles, once per value, on first use: the activation, the norm, the
optimizer family, the batch size and the width (they change the code or the shapes),
and n_steps. Each call to `train_steps` is one jitted `lax.scan` over n_steps steps.

Step t evaluates the parameters after t updates, records what it sees, then updates
them (as gradviz.train does): loss[t] and grad_norm[t] describe the gradient that makes
the update whose size update_ratio[t] measures.
"""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from sklearn.datasets import make_circles, make_moons

from gradviz.activations import ACTIVATION_NAMES, ACTIVATIONS
from gradviz.data import digits_split
from gradviz.init import INIT_SCHEMES
from gradviz.losses import loss_value, safe_norm
from gradviz.models import NORMS, init_mlp, mlp_forward, mlp_readout
from gradviz.validate import check_choice, check_float_range, check_int_range, check_positive

# The live explorer's network always holds this many layers (its depth slider's range):
# small enough that a training step stays interactive. Not gradviz.models.MAX_DEPTH, the
# deepest MLP that can be built at all.
MAX_DEPTH = 32
TASKS: tuple[str, ...] = ("moons", "circles", "spiral", "xor", "digits")
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")
CLIPPING: tuple[str, ...] = ("off", "by value", "by global norm")
BATCH_SIZES: tuple = (8, 16, 32, 64, 128, 256, None)  # None: the whole training set
MOMENTUM = 0.9
N_POINTS = 256  # training points of a 2-D task (and as many test points)


class Task(NamedTuple):
    """A classification task: x_*: (n, features) float32, y_*: (n,) int labels."""

    name: str
    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    n_classes: int


class Architecture(NamedTuple):
    """What the network is: changing any of it starts a new run."""

    depth: int = 8  # hidden layers, 1..MAX_DEPTH
    width: int = 64
    activation: str = "relu"
    init: str = "he"  # gradviz.init scheme
    scale: float = 1.0  # gain on the scheme's standard deviation
    norm: str = "none"  # "none", "batch" or "layer"
    residual: bool = False


class Hyper(NamedTuple):
    """How it is trained: changing any of it takes effect at the next step."""

    optimizer: str = "adam"  # "sgd", "momentum" (0.9) or "adam"
    lr: float = 1e-2
    clipping: str = "off"  # "off", "by value" (each gradient entry) or "by global norm"
    threshold: float = 1.0
    weight_decay: float = 0.0  # added as wd * W to the gradient; decoupled (AdamW) for adam
    batch_size: int | None = 64  # None: full batch


class Run(NamedTuple):
    """A training run in progress."""

    params: dict
    opt_state: Any
    key: jax.Array
    step: int  # updates made so far
    optimizer: str  # the family opt_state belongs to


class StepLog(NamedTuple):
    """What n_steps steps recorded; one row per step. Layers past the depth hold NaN."""

    step: np.ndarray  # (n,) the step number of each row, counted over the whole run
    loss: np.ndarray  # (n,) training loss on the step's batch
    test_loss: np.ndarray  # (n,) on the whole test set
    test_accuracy: np.ndarray  # (n,)
    grad_norm: np.ndarray  # (n, MAX_DEPTH) ||dL/dW_l|| of hidden layer l
    update_ratio: np.ndarray  # (n, MAX_DEPTH) ||update of W_l|| / ||W_l||
    nonfinite: np.ndarray  # (n,) bool: the loss or a gradient was inf/NaN


# --------------------------------------------------------------------------- tasks


def make_task(name: str = "moons", noise: float = 0.2, seed: int = 0) -> Task:
    """A 2-D task ("moons", "circles", "spiral", "xor": 256 training and 256 test points,
    2 classes, `noise` the std of the jitter) or "digits" (gradviz.data.digits_split;
    noise unused). Generated here with NumPy and scikit-learn: nothing is downloaded."""
    check_choice("task", name, TASKS)
    noise = check_float_range("noise", noise, 0.0, 2.0)
    if name == "digits":
        train, test = digits_split()
        return Task(name, train.x, train.y, test.x, test.y, 10)
    rng = np.random.default_rng(seed)
    x, y = _points(name, 2 * N_POINTS, noise, rng)
    x = (x - x[:N_POINTS].mean(axis=0)) / x[:N_POINTS].std(axis=0)  # training statistics
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    return Task(name, x[:N_POINTS], y[:N_POINTS], x[N_POINTS:], y[N_POINTS:], 2)


def _points(name: str, n: int, noise: float, rng: np.random.Generator):
    """n points x: (n, 2) and labels y: (n,) of a 2-D task, before standardising."""
    seed = int(rng.integers(2**31))
    if name == "moons":
        return make_moons(n, noise=noise, random_state=seed)
    if name == "circles":
        return make_circles(n, noise=noise * 0.5, factor=0.5, random_state=seed)
    y = rng.integers(0, 2, n)
    if name == "xor":
        x = rng.uniform(-1, 1, (n, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(int)
        return x + noise * 0.5 * rng.standard_normal((n, 2)), y
    radius = np.sqrt(rng.uniform(0.05, 1, n))  # spiral: two arms, 1.5 turns each
    angle = 3 * np.pi * radius + np.pi * y
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return x + noise * 0.15 * rng.standard_normal((n, 2)), y


# --------------------------------------------------------------------------- checks


def check_architecture(arch: Architecture) -> Architecture:
    check_int_range("depth", arch.depth, 1, MAX_DEPTH)
    check_int_range("width", arch.width, 1, 1024)
    check_choice("activation", arch.activation, ACTIVATION_NAMES)
    check_choice("init scheme", arch.init, INIT_SCHEMES)
    check_positive("init scale", arch.scale)
    check_choice("norm", arch.norm, NORMS)
    if not isinstance(arch.residual, bool):
        raise ValueError(f"residual must be True or False, got {arch.residual!r}")
    return arch


def check_hyper(hyper: Hyper) -> Hyper:
    check_choice("optimizer", hyper.optimizer, OPTIMIZERS)
    check_float_range("learning rate", hyper.lr, 1e-6, 10.0)
    check_choice("clipping", hyper.clipping, CLIPPING)
    check_positive("clip threshold", hyper.threshold)
    check_float_range("weight decay", hyper.weight_decay, 0.0, 1.0)
    check_choice("batch size", hyper.batch_size, BATCH_SIZES)
    return hyper


# --------------------------------------------------------------------------- optimizer


def _clip(mode, threshold) -> optax.GradientTransformation:
    """optax's clipping, chosen by a traced mode (0 off, 1 by value, 2 by global norm)."""
    by_value, by_norm = optax.clip(threshold), optax.clip_by_global_norm(threshold)

    def update(updates, state, params=None):
        branches = [lambda u: u, lambda u: by_value.update(u, state)[0],
                    lambda u: by_norm.update(u, state)[0]]
        return lax.switch(mode, branches, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(family: str, lr, weight_decay, clip_mode=0, threshold=1.0):
    """clip -> (weight decay) -> sgd / sgd with momentum 0.9 / adamw, from optax.

    lr, weight_decay, clip_mode and threshold may be traced: the state's structure
    depends on the family only, so they can change from one step to the next.
    """
    if family == "adam":
        base = optax.adamw(lr, weight_decay=weight_decay)
    else:
        sgd = optax.sgd(lr, momentum=MOMENTUM if family == "momentum" else None)
        base = optax.chain(optax.add_decayed_weights(weight_decay), sgd)
    return optax.chain(_clip(clip_mode, threshold), base)


# --------------------------------------------------------------------------- the run


def start_run(key: jax.Array, task: Task, arch: Architecture, hyper: Hyper) -> Run:
    """A new run: fresh MAX_DEPTH-layer parameters (init scheme and scale of `arch`,
    zero biases) and a fresh optimizer state."""
    check_architecture(arch)
    check_hyper(hyper)
    init_key, key = jax.random.split(key)
    params = init_mlp(init_key, task.x_train.shape[1], arch.width, MAX_DEPTH, task.n_classes,
                      init=arch.init, scale=arch.scale)
    return Run(params, _init_state(params, hyper.optimizer), key, 0, hyper.optimizer)


def _init_state(params, family):
    return make_optimizer(family, 1e-3, 0.0).init(params)


def train_steps(run: Run, task: Task, arch: Architecture, hyper: Hyper,
                n_steps: int = 10) -> tuple[Run, StepLog]:
    """n_steps more steps of `run` (one jitted scan); returns the run and what they saw.

    A new optimizer family starts a fresh optimizer state (the parameters carry on).
    """
    check_architecture(arch)
    check_hyper(hyper)
    check_int_range("n_steps", n_steps, 1, 10_000)
    opt_state = run.opt_state
    if hyper.optimizer != run.optimizer:
        opt_state = _init_state(run.params, hyper.optimizer)
    n_train = task.x_train.shape[0]
    batch = None if hyper.batch_size is None or hyper.batch_size >= n_train else hyper.batch_size
    params, opt_state, key, record = _train_steps(
        run.params, opt_state, run.key, task.x_train, task.y_train, task.x_test, task.y_test,
        jnp.int32(arch.depth), jnp.float32(arch.residual), jnp.float32(hyper.lr),
        jnp.float32(hyper.weight_decay), jnp.int32(CLIPPING.index(hyper.clipping)),
        jnp.float32(hyper.threshold), activation=arch.activation, norm=arch.norm,
        optimizer=hyper.optimizer, batch_size=batch, n_steps=n_steps)
    record = {name: np.asarray(value) for name, value in record.items()}
    log = StepLog(step=run.step + np.arange(n_steps), **record)
    return Run(params, opt_state, key, run.step + n_steps, hyper.optimizer), log


@partial(jax.jit, static_argnames=("activation", "norm", "optimizer", "batch_size", "n_steps"))
def _train_steps(params, opt_state, key, x, y, x_test, y_test, depth, residual, lr,
                 weight_decay, clip_mode, threshold, *, activation, norm, optimizer,
                 batch_size, n_steps):
    phi = ACTIVATIONS[activation]
    tx = make_optimizer(optimizer, lr, weight_decay, clip_mode, threshold)
    active = jnp.arange(1, MAX_DEPTH + 1) <= depth

    def logits(params, x):
        h = mlp_forward(params, x, phi=phi, residual=residual, norm=norm, depth=depth)[0]
        return mlp_readout(params, h)

    def objective(params, x, y):
        return loss_value(logits(params, x), y, "cross_entropy")

    def per_layer(tree):  # (MAX_DEPTH,) norms of W_in and each W[l]; NaN past the depth
        norms = jnp.concatenate([safe_norm(tree["W_in"])[None], jax.vmap(safe_norm)(tree["W"])])
        return jnp.where(active, norms, jnp.nan)

    def step(carry, step_key):
        params, opt_state = carry
        if batch_size is None:
            xb, yb = x, y
        else:
            rows = jax.random.choice(step_key, x.shape[0], (batch_size,), replace=False)
            xb, yb = x[rows], y[rows]
        loss, grads = jax.value_and_grad(objective)(params, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, params)
        test_logits = logits(params, x_test)
        grad_norm = per_layer(grads)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        record = {
            "loss": loss,
            "test_loss": loss_value(test_logits, y_test, "cross_entropy"),
            "test_accuracy": jnp.mean(jnp.argmax(test_logits, axis=-1) == y_test),
            "grad_norm": grad_norm,
            "update_ratio": per_layer(updates) / per_layer(params),
            "nonfinite": ~jnp.isfinite(loss) | ~finite,
        }
        return (optax.apply_updates(params, updates), opt_state), record

    key, scan_key = jax.random.split(key)
    (params, opt_state), record = lax.scan(step, (params, opt_state),
                                           jax.random.split(scan_key, n_steps))
    return params, opt_state, key, record


def class_probability(run: Run, arch: Architecture, points) -> np.ndarray:
    """p(class 1 | point) of a 2-class network at points: (n, 2) -> (n,), e.g. on a grid
    for the decision boundary. One jitted call (depth and residual traced)."""
    return np.asarray(_class_probability(run.params, jnp.asarray(points, jnp.float32),
                                         jnp.int32(arch.depth), jnp.float32(arch.residual),
                                         activation=arch.activation, norm=arch.norm))


@partial(jax.jit, static_argnames=("activation", "norm"))
def _class_probability(params, points, depth, residual, *, activation, norm):
    h = mlp_forward(params, points, phi=ACTIVATIONS[activation], residual=residual, norm=norm,
                    depth=depth)[0]
    return jax.nn.softmax(mlp_readout(params, h), axis=-1)[:, 1]


# --------------------------------------------------------------------------- diagnosis

VANISHED_RATIO = 1e-5  # update ratios below this: the layer does not learn
VANISHED_GRADIENT = 1e-3  # ... and vanished, if its gradient is below this x the largest
HEALTHY_RATIO = 1e-3  # the rule of thumb for the update-to-data ratio (CS231n, Karpathy)
EXPLODING_RATIO = 1e-1  # each step rewrites more than a tenth of the weights


def diagnose(log: StepLog, depth: int) -> str:
    """One line that names what the latest steps show: an overflow (from which step, and
    whether the forward pass or the gradients overflowed first), layers that do not
    learn (because their gradients vanished, or because their steps are too small),
    oversized updates, or a healthy run."""
    bad = np.flatnonzero(log.nonfinite)
    if bad.size:
        first = int(bad[0])
        step = int(log.step[first])
        if not np.isfinite(log.loss[first]):
            before = (f", after an update with gradient norms up to "
                      f"{np.nanmax(log.grad_norm[first - 1, :depth]):.0e}" if first else "")
            return (f"the loss is inf/NaN from step {step}: the forward pass overflowed"
                    f"{before}. Lower the learning rate, clip, or change the init.")
        broken = np.flatnonzero(~np.isfinite(log.grad_norm[first, :depth])) + 1
        return (f"the gradients are inf/NaN from step {step} (non-finite at layers "
                f"{_layer_range(broken)}). Lower the learning rate, clip, or change the init.")
    recent = slice(-min(len(log.step), 20), None)
    ratio = np.nanmedian(log.update_ratio[recent, :depth], axis=0)
    grad = np.nanmedian(log.grad_norm[recent, :depth], axis=0)
    loss = f"loss {log.loss[-1]:.3g}, test accuracy {log.test_accuracy[-1]:.0%}"
    small = ratio < VANISHED_RATIO
    vanished = np.flatnonzero(small & (grad < VANISHED_GRADIENT * grad.max())) + 1
    if vanished.size:
        return (f"{loss}. {_layers(vanished, 'has', 'have')} update ratios below "
                f"{VANISHED_RATIO:.0e} and gradients below {VANISHED_GRADIENT:.0e} of the "
                "largest layer's: their gradients vanished, they do not learn.")
    slow = np.flatnonzero(small) + 1
    if slow.size:
        return (f"{loss}. {_layers(slow, 'has', 'have')} update ratios below "
                f"{VANISHED_RATIO:.0e} although the gradients did not vanish: the steps are "
                "too small (learning rate too low, or weights too large).")
    large = np.flatnonzero(ratio > EXPLODING_RATIO) + 1
    if large.size:
        return (f"{loss}. {_layers(large, 'changes', 'change')} by more than "
                f"{EXPLODING_RATIO:.0%} of their weights per step: the learning rate is too "
                "high for them.")
    return (f"{loss}. Update ratios {ratio.min():.0e} to {ratio.max():.0e} per step "
            f"(about {HEALTHY_RATIO:.0e} is healthy).")


def _layers(layers: np.ndarray, singular: str, plural: str) -> str:
    """"Layer 3 has" or "Layers 1-6 have": the subject and verb of a diagnosis."""
    if len(layers) == 1:
        return f"Layer {layers[0]} {singular}"
    return f"Layers {_layer_range(layers)} {plural}"


def _layer_range(layers: np.ndarray) -> str:
    """"3" or "1-6", or "1-4, 7" for 1-based layer numbers."""
    runs, start = [], layers[0]
    for a, b in zip(layers, [*layers[1:], None], strict=True):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(runs)


def extend(history: StepLog | None, log: StepLog) -> StepLog:
    """The rows of `history` (None: nothing yet) followed by those of `log`."""
    if history is None:
        return log
    return StepLog(*(np.concatenate([a, b]) for a, b in zip(history, log, strict=True)))
