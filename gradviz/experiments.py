"""The computations behind the explorers, callable without a widget.

Each function here runs the experiment an explorer in `gradviz.widgets` shows and returns
its result as plain arrays (a NamedTuple where there are several), so a learner can
reproduce any number on an explorer's figure in a notebook cell, and tests can check it.
Core: no matplotlib, no ipywidgets.
"""

from typing import NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from gradviz.clipping import clipped_finite_steps, record_clipping
from gradviz.data import adding_problem
from gradviz.losses import loss_value
from gradviz.rnn import apply_rnn, init_rnn
from gradviz.runs import divergence_step
from gradviz.train import train_rnn

CLIP_METHODS = {"value": optax.clip, "global norm": optax.clip_by_global_norm}
CLIP_THRESHOLDS = np.logspace(-2, 2, 17)  # the clip explorer's slider


def first_gradient(params: dict, xs: jax.Array, y: jax.Array, activation: str) -> dict:
    """The gradient of the MSE of an RNN (gradviz.rnn.apply_rnn) on xs: (batch, T, 2),
    y: (batch, 1) at params: a tree shaped like params."""
    return jax.grad(lambda p: loss_value(apply_rnn(p, xs, activation), y, "mse"))(params)


def clipped_gradient(gradient: dict, method: str, threshold: float) -> np.ndarray:
    """gradient (a tree) clipped by `method` ("value": optax.clip, "global norm":
    optax.clip_by_global_norm, "none": as it is) at threshold, flattened: (n_params,)."""
    if method == "none":
        return np.asarray(jax.flatten_util.ravel_pytree(gradient)[0])
    clipped, _ = CLIP_METHODS[method](threshold).update(gradient, ())
    return np.asarray(jax.flatten_util.ravel_pytree(clipped)[0])


class ClipExperiment(NamedTuple):
    """The runs of `clip_experiment`. Per method ("value", "global norm"), every array
    has a leading axis over thresholds: (k,)."""

    thresholds: np.ndarray  # (k,)
    logs: dict  # "none": the StepLog of the unclipped run; per method: StepLogs (k, steps)
    clipped: dict  # method -> (k,) clipped steps among the finite ones
    finite: dict  # method -> (k,) finite steps
    diverged: dict  # method -> (k,) the step each run diverged at, -1 where it did not
    clipped_before: dict  # method -> (k,) clipped steps among those up to the divergence
    gradient: dict  # the first gradient (a tree like the parameters)
    first_norm: dict  # method -> (k,) the norm of the first gradient after clipping
    first_angle: dict  # method -> (k,) its angle to the unclipped one, in degrees
    n_params: int


def clip_experiment(thresholds=CLIP_THRESHOLDS, activation="linear", recurrent_scale=1.1,
                    lr=0.01, steps=200, length=30, hidden=16, seed=0) -> ClipExperiment:
    """A vanilla RNN (gradviz.rnn.init_rnn; hidden units, recurrent scale) learns the
    adding problem (512 sequences of `length`) with plain SGD (batches of 64) for `steps`
    steps: once without clipping, and per clipping method once per threshold (one vmapped
    run over thresholds: (k,)); plus the first gradient (on the first 64 sequences)
    clipped at every threshold."""
    key = jax.random.PRNGKey(seed)
    xs, y = adding_problem(key, 512, length)
    params = init_rnn(key, 2, hidden, 1, recurrent_scale=recurrent_scale)
    logs = {"none": train_rnn(key, params, xs, y, optax.sgd(lr), steps, batch_size=64,
                              activation=activation)}
    for name, clip in CLIP_METHODS.items():
        def run(c, clip=clip):
            optimizer = optax.chain(record_clipping(clip(c)), optax.sgd(lr))
            return train_rnn(key, params, xs, y, optimizer, steps, batch_size=64,
                             activation=activation)

        logs[name] = jax.vmap(run)(jnp.asarray(thresholds, jnp.float32))
    clipped, finite, diverged, clipped_before = {}, {}, {}, {}
    for name in CLIP_METHODS:
        clipped[name], finite[name] = clipped_finite_steps(logs[name])
        diverged[name] = divergence_step(logs[name].loss)
        # after its divergence a run is chaotic: its later steps differ from CPU to CPU
        flags = np.asarray(logs[name].clipped)
        upto = np.arange(flags.shape[1]) <= diverged[name][:, None]
        clipped_before[name] = np.sum(flags & upto, axis=1)
    gradient = first_gradient(params, xs[:64], y[:64], activation)
    raw = clipped_gradient(gradient, "none", 1.0)
    first_norm, first_angle = {}, {}
    for name in CLIP_METHODS:
        clipped_first = np.stack([clipped_gradient(gradient, name, c) for c in thresholds])
        norms = np.linalg.norm(clipped_first.astype(np.float64), axis=1)
        cosine = clipped_first.astype(np.float64) @ raw / (norms * np.linalg.norm(raw))
        first_norm[name] = norms
        first_angle[name] = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return ClipExperiment(np.asarray(thresholds), logs, clipped, finite, diverged,
                          clipped_before, gradient, first_norm, first_angle, raw.size)
