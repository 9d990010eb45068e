"""Training loops that record, at every step, what the notebooks plot.

`train_mlp` and `train_rnn` run gradient descent with any optax optimizer for `steps`
steps, the whole loop as one jitted `lax.scan`, and return a `TrainLog`: the loss (and
accuracy) at every step, the gradient norm of every layer, the global gradient norm,
whether clipping acted, whether anything overflowed, and the final parameters.

Step t (0-based) evaluates the parameters after t updates on that step's batch, records
what it sees, then updates them: `loss[t]` and `layer_grad_norm[t]` describe the same
gradient that makes update t + 1. Full batch (`batch_size=None`) uses every example at
every step; otherwise step t draws `batch_size` distinct examples at random, with
`jax.random.choice(jax.random.split(key, steps)[t], n, (batch_size,), replace=False)`.

Overflow does not stop anything: a step whose loss or gradients are inf/NaN is marked in
`nonfinite`, training carries on, and NaN parameters stay NaN from then on.

To record clipping, wrap the clipping transform with `gradviz.clipping.record_clipping`::

    optimizer = optax.chain(record_clipping(optax.clip_by_global_norm(1.0)), optax.sgd(0.1))

Runs are pure functions of (key, params): `jax.vmap` over keys or over stacked initial
parameters trains many configurations at once.

Compilation: once per optimizer object (optax builds new functions each time it is
called: reuse one `optimizer` to avoid recompiling), activation, norm, loss, `steps`,
`batch_size` and data shapes; `residual` and the parameters' values are traced. The
activation is static on purpose: one branch compiles in about a quarter of the time that
all six behind a `lax.switch` take (0.5-2 s against 2-5 s on a 2-core CPU), and a new
optimizer compiles anew anyway.
"""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from gradviz.activations import ACTIVATIONS, activation_index
from gradviz.clipping import clip_flags
from gradviz.losses import LOSSES, check_targets, loss_value, safe_norm
from gradviz.models import (
    check_mlp_input,
    init_mlp,
    mlp_depth,
    mlp_forward,
    mlp_options,
    mlp_readout,
)
from gradviz.rnn import check_rnn_input, init_rnn, rnn_cell, rnn_forward
from gradviz.validate import check_choice, check_int_range, check_transform

MAX_STEPS = 1_000_000


class TrainLog(NamedTuple):
    """What one training run recorded; arrays have one row per step (0-based).

    A run under `jax.vmap` gives the same fields with a leading runs axis.
    """

    loss: jax.Array  # (steps,) loss on step t's batch (losses.loss_value), before update t+1
    accuracy: jax.Array | None  # (steps,) fraction of the batch classified right; None for mse
    test_loss: jax.Array | None  # (steps,) loss on the whole test set; None without one
    test_accuracy: jax.Array | None  # (steps,) None without a test set, or for mse
    layer_grad_norm: jax.Array  # (steps, n_layers) ||dL/dW_l||, columns named by layer_names
    global_grad_norm: jax.Array  # (steps,) norm of all the gradients as one vector
    clipped: jax.Array | None  # (steps,) bool: a record_clipping transform changed the update;
    #                            None when the optimizer has none
    nonfinite: jax.Array  # (steps,) bool: the loss or some gradient was inf or NaN
    params: Any  # the parameters after the last update

    @property
    def first_nonfinite_step(self) -> int | None | list:
        """The first step (0-based) whose loss or gradients were inf/NaN, or None.

        For a log of several runs (from vmap), a list with one answer per run.
        """
        bad = np.asarray(self.nonfinite)
        if bad.ndim > 1:
            return [_first_true(run) for run in bad]
        return _first_true(bad)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The parameter behind each column of layer_grad_norm.

        MLP: ("W_in", "W[0]", "W[1]", ...), hidden layers 1, 2, 3, ... from the input.
        RNN/GRU: every parameter, sorted by name (the order of a dict's leaves in JAX).
        """
        if "W_in" in self.params:
            return ("W_in",) + tuple(f"W[{i}]" for i in range(np.shape(self.params["W"])[-3]))
        return tuple(sorted(self.params))


def _first_true(flags: np.ndarray) -> int | None:
    """The index of the first True in flags: (n,), or None."""
    where = np.flatnonzero(flags)
    return int(where[0]) if where.size else None


# --------------------------------------------------------------------------- the loop


def _train_loop(outputs_fn, grad_norms_fn, key, params, x, y, x_test, y_test, optimizer,
                steps, batch_size, loss):
    """The scanned loop shared by the MLP and the RNN: returns a TrainLog.

    outputs_fn(params, x) -> outputs (batch, out_dim); grad_norms_fn(grads) -> (n_layers,).
    """
    classify = loss == "cross_entropy"
    n = x.shape[0]

    def accuracy(outputs, y):
        return jnp.mean(jnp.argmax(outputs, axis=-1) == y) if classify else None

    def objective(params, x, y):
        outputs = outputs_fn(params, x)
        return loss_value(outputs, y, loss), outputs

    def step(carry, step_key):
        params, opt_state = carry
        if batch_size is None:
            xb, yb = x, y
        else:
            rows = jax.random.choice(step_key, n, (batch_size,), replace=False)
            xb, yb = x[rows], y[rows]
        (loss_, outputs), grads = jax.value_and_grad(objective, has_aux=True)(params, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        flags = clip_flags(opt_state)
        record = {
            "loss": loss_,
            "accuracy": accuracy(outputs, yb),
            "layer_grad_norm": grad_norms_fn(grads),
            "global_grad_norm": _global_norm(grads),
            "clipped": jnp.any(jnp.stack(flags)) if flags else None,
            "nonfinite": ~jnp.isfinite(loss_) | ~_all_finite(grads),
        }
        if x_test is not None:
            test_loss, test_outputs = objective(params, x_test, y_test)
            record.update(test_loss=test_loss, test_accuracy=accuracy(test_outputs, y_test))
        return (optax.apply_updates(params, updates), opt_state), record

    (params, _), record = lax.scan(
        step, (params, optimizer.init(params)), jax.random.split(key, steps)
    )
    record.setdefault("test_loss", None)
    record.setdefault("test_accuracy", None)
    return TrainLog(**record, params=params)


def _global_norm(tree) -> jax.Array:
    """() the norm of all the arrays in the pytree taken together, as one long vector."""
    return safe_norm(jnp.stack([safe_norm(a) for a in jax.tree.leaves(tree)]))


def _all_finite(tree) -> jax.Array:
    """() bool: every element of every array in the pytree is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)]))


def _mlp_grad_norms(grads: dict) -> jax.Array:
    """(depth,): ||dL/dW_in||, then ||dL/dW[l]|| for each further hidden layer."""
    return jnp.concatenate([safe_norm(grads["W_in"])[None], jax.vmap(safe_norm)(grads["W"])])


def _rnn_grad_norms(grads: dict) -> jax.Array:
    """(n_params,): ||dL/dp|| for every parameter, sorted by name."""
    return jnp.stack([safe_norm(grads[name]) for name in sorted(grads)])


_STATIC = ("optimizer", "steps", "batch_size", "activation", "loss")


@partial(jax.jit, static_argnames=_STATIC + ("norm",))
def _train_mlp(key, params, x, y, x_test, y_test, residual, optimizer, steps, batch_size,
               activation, norm, loss):
    phi = ACTIVATIONS[activation]

    def outputs(params, x):
        h = mlp_forward(params, x, phi=phi, residual=residual, norm=norm,
                        depth=mlp_depth(params))[0]
        return mlp_readout(params, h)

    return _train_loop(outputs, _mlp_grad_norms, key, params, x, y, x_test, y_test,
                       optimizer, steps, batch_size, loss)


@partial(jax.jit, static_argnames=_STATIC)
def _train_rnn(key, params, xs, y, xs_test, y_test, optimizer, steps, batch_size, activation,
               loss):
    phi = ACTIVATIONS[activation]

    def outputs(params, xs):
        return mlp_readout(params, rnn_forward(params, xs, phi=phi, length=xs.shape[1])[0])

    return _train_loop(outputs, _rnn_grad_norms, key, params, xs, y, xs_test, y_test,
                       optimizer, steps, batch_size, loss)


# --------------------------------------------------------------------------- public


def _check_test_set(name: str, check_input, params, x_test, y_test, loss: str) -> None:
    """ValueError unless the optional test set (inputs `name`, targets y_test) fits."""
    if (x_test is None) != (y_test is None):
        raise ValueError(f"give both {name} and y_test, or neither")
    if x_test is not None:
        check_input(params, x_test)
        check_targets(y_test, np.shape(x_test)[0], params["W_out"].shape[1], loss)


def train_mlp(
    key: jax.Array,
    params: dict,
    x: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
    batch_size: int | None = None,
    activation: str = "tanh",
    residual: bool = False,
    norm: str = "none",
    loss: str = "cross_entropy",
    x_test: jax.Array | None = None,
    y_test: jax.Array | None = None,
    branch_scale: float = 1.0,
) -> TrainLog:
    """Train an MLP (gradviz.init_mlp's params) for `steps` steps of `optimizer`.

    x: (n, in_dim); y: integer labels (n,) for "cross_entropy" or targets (n, out_dim)
    for "mse" (whose loss is half the squared error, as in gradviz.losses.loss_value). The
    test set, if given, has the same form and is evaluated at every step (batch norm uses
    its statistics). `key` draws the minibatches (unused at full batch). Works under
    jax.vmap over key and params. Every hidden layer is trained; layer_grad_norm has one
    column per hidden layer. `branch_scale` scales each residual branch (residual=True
    only; see gradviz.models).
    """
    check_mlp_input(params, x)
    _check_training_set(x, y, params["W_out"].shape[1], loss, optimizer, steps, batch_size)
    _check_test_set("x_test", check_mlp_input, params, x_test, y_test, loss)
    options = mlp_options(activation, residual, norm, branch_scale)
    return _train_mlp(
        key, params, x, y, x_test, y_test, options["residual"], optimizer=optimizer,
        steps=steps, batch_size=batch_size, activation=activation, norm=options["norm"],
        loss=loss,
    )


def train_rnn(
    key: jax.Array,
    params: dict,
    xs: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
    batch_size: int | None = None,
    activation: str = "tanh",
    loss: str = "mse",
    xs_test: jax.Array | None = None,
    y_test: jax.Array | None = None,
) -> TrainLog:
    """Train a vanilla RNN or GRU (gradviz.init_rnn's params) for `steps` steps.

    xs: (n, time, in_dim) a fixed training set, e.g. gradviz.data.adding_problem; y:
    targets (n, out_dim) for "mse" or integer labels (n,) for "cross_entropy". Minibatches
    are drawn from it as in train_mlp. `activation` is the vanilla RNN's (the GRU's are
    fixed). The test set is evaluated at every step: keep it about a batch's size.
    layer_grad_norm has one column per parameter, in the order of log.layer_names.
    The "mse" loss is half the mean squared error: on the adding problem, predicting the
    mean scores about 1/12 (a mean squared error of 1/6).
    """
    check_rnn_input(params, xs)
    _check_training_set(xs, y, params["W_out"].shape[1], loss, optimizer, steps, batch_size)
    _check_test_set("xs_test", check_rnn_input, params, xs_test, y_test, loss)
    activation_index(activation)  # ValueError for an unknown name
    if rnn_cell(params) == "gru":
        activation = "tanh"  # the GRU's nonlinearities are fixed: one compilation serves all
    return _train_rnn(
        key, params, xs, y, xs_test, y_test, optimizer=optimizer, steps=steps,
        batch_size=batch_size, activation=activation, loss=loss,
    )


def _check_training_set(x, y, out_dim, loss, optimizer, steps, batch_size) -> None:
    n = np.shape(x)[0]
    check_targets(y, n, out_dim, loss)
    check_transform("optimizer", optimizer)
    check_int_range("steps", steps, 1, MAX_STEPS)
    if batch_size is not None:
        check_int_range("batch_size", batch_size, 1, n)


def _seed_keys(keys) -> jax.Array:
    keys = jnp.asarray(keys)
    if keys.ndim != 2 or keys.shape[0] < 1:
        raise ValueError("keys must be a stack of PRNG keys, e.g. jax.random.split(key, 3), "
                         f"got shape {keys.shape}")
    return keys


def train_mlp_seeds(
    keys: jax.Array,
    x: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
    width: int,
    depth: int,
    init: str = "xavier",
    scale: float = 1.0,
    bias_scale: float = 0.0,
    **options,
) -> TrainLog:
    """One MLP configuration trained from several seeds at once (jax.vmap over keys).

    keys: (runs, 2), e.g. jax.random.split(key, 3). Run i draws its network with
    gradviz.init_mlp(split(keys[i])[0], in_dim, width, depth, out_dim, init, scale,
    bias_scale) and its minibatches with split(keys[i])[1]; `options` go to train_mlp
    (batch_size, activation, residual, branch_scale, norm, loss, x_test, y_test). The log's arrays
    have a leading runs axis.
    """
    keys = _seed_keys(keys)
    out_dim = params_out_dim(y, options.get("loss", "cross_entropy"))

    def run(key):
        init_key, batch_key = jax.random.split(key)
        params = init_mlp(init_key, np.shape(x)[1], width, depth, out_dim, init=init,
                          scale=scale, bias_scale=bias_scale)
        return train_mlp(batch_key, params, x, y, optimizer, steps, **options)

    return jax.vmap(run)(keys)


def train_rnn_seeds(
    keys: jax.Array,
    xs: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
    hidden: int,
    cell: str = "vanilla",
    init_options: dict | None = None,
    **options,
) -> TrainLog:
    """One RNN/GRU configuration trained from several seeds at once (jax.vmap over keys).

    As train_mlp_seeds: run i draws gradviz.init_rnn(split(keys[i])[0], in_dim, hidden,
    out_dim, cell, **init_options) and its minibatches with split(keys[i])[1]; `options`
    go to train_rnn. The log's arrays have a leading runs axis.
    """
    keys = _seed_keys(keys)
    out_dim = params_out_dim(y, options.get("loss", "mse"))

    def run(key):
        init_key, batch_key = jax.random.split(key)
        params = init_rnn(init_key, np.shape(xs)[-1], hidden, out_dim, cell=cell,
                          **(init_options or {}))
        return train_rnn(batch_key, params, xs, y, optimizer, steps, **options)

    return jax.vmap(run)(keys)


def params_out_dim(y, loss: str) -> int:
    """The read-out size a task needs: the number of classes (labels 0..max) for
    cross-entropy, the targets' last dimension for mse."""
    check_choice("loss", loss, LOSSES)
    if loss == "cross_entropy":
        return int(np.max(np.asarray(y))) + 1
    return int(np.shape(y)[-1])
