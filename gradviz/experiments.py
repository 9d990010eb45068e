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

from gradviz import theory
from gradviz.clipping import clipped_finite_steps, record_clipping
from gradviz.data import adding_problem
from gradviz.flow import (
    FlowStats,
    RNNFlowStats,
    gain_per_layer,
    gradient_flow,
    rnn_gradient_flow,
    stacked_hidden_jacobian_norms,
)
from gradviz.losses import loss_value
from gradviz.phase import PhaseDiagram, scale_mlp
from gradviz.rnn import apply_rnn, init_rnn
from gradviz.runs import divergence_step
from gradviz.train import train_rnn

# --------------------------------------------------------------------------- gradient flow


def anchored_prediction(stats, sigma_w: float, sigma_b: float, activation: str,
                        input_mean_square: float) -> np.ndarray:
    """Mean-field theory's ||dL/dh_l|| for the layers of a FlowStats: (depth,), the
    predicted profile (gradviz.theory.predicted_signal_profile) scaled to the measured
    signal at the last layer."""
    depth = len(stats.signal_norm)
    profile = theory.predicted_signal_profile(depth, sigma_w, sigma_b, activation,
                                              input_mean_square=input_mean_square)
    return np.asarray(profile) * stats.signal_norm[-1]


class FlowWithTheory(NamedTuple):
    """What the flow explorer shows: a measured pass and mean-field theory beside it."""

    stats: FlowStats
    predicted_signal: np.ndarray | None  # (depth,) anchored at the last layer; None where
    # the theory does not apply (residual or normalised networks) or the pass overflowed
    predicted_gain: float | None  # sqrt(chi) per layer at the fixed point; plain MLPs only


def flow_with_theory(params: dict, x, y, *, activation: str, residual: bool, norm: str,
                     depth: int, sigma_w: float, sigma_b: float) -> FlowWithTheory:
    """`gradient_flow` of the first `depth` layers of params on x: (batch, in_dim), y:
    (batch,), and mean-field theory's prediction for a plain MLP whose hidden weights have
    the effective sigma_w (fan_in Var(W_ij) = sigma_w^2) and biases the std sigma_b."""
    stats = gradient_flow(params, x, y, activation, residual, norm, depth=depth)
    plain = not residual and norm == "none"
    predicted_signal = None
    if plain and stats.first_nonfinite_backward is None:
        predicted_signal = anchored_prediction(stats, sigma_w, sigma_b, activation,
                                               float(np.mean(np.square(x))))
    gain = float(theory.signal_gain_per_layer(sigma_w, sigma_b, activation)) if plain else None
    return FlowWithTheory(stats, predicted_signal, gain)


class PhasePoint(NamedTuple):
    """One point (sigma_w, sigma_b) of a phase diagram: its measured flow and the theory."""

    stats: FlowStats
    predicted_signal: np.ndarray  # (depth,) mean-field ||dL/dh_l||, anchored at the last layer
    measured_gain: float  # the mean factor per layer the signal grows going back
    predicted_gain: float  # mean-field theory's, at the variance's fixed point
    critical_sigma_w: float  # the theory's edge of chaos at this sigma_b (NaN: none)
    grid_edge: float  # where the diagram's measured ln gain crosses 0 at this sigma_b


def phase_point(unit_params: dict, x, y, diagram: PhaseDiagram, sigma_w: float,
                sigma_b: float) -> PhasePoint:
    """The network scale_mlp(unit_params, sigma_w, sigma_b) on x: (batch, in_dim), y:
    (batch,), with diagram.activation, measured and predicted, and where the edge of
    chaos is at its sigma_b (by theory, and on the diagram's grid)."""
    name = diagram.activation
    stats = gradient_flow(scale_mlp(unit_params, sigma_w, sigma_b), x, y, name)
    predicted = anchored_prediction(stats, sigma_w, sigma_b, name, float(np.mean(np.square(x))))
    return PhasePoint(stats, predicted, float(gain_per_layer(stats.signal_norm)),
                      float(theory.signal_gain_per_layer(sigma_w, sigma_b, name)),
                      float(theory.critical_sigma_w(sigma_b, name)),
                      diagram.measured_edge(sigma_b))


# --------------------------------------------------------------------------- through time


def explorer_rnn(key: jax.Array, in_dim: int, hidden: int, *, cell: str,
                 recurrent_scale: float, update_gate_bias: float = 0.0) -> dict:
    """The RNN explorer's network: init_rnn(key, in_dim, hidden, 1, ...) with a
    Gaussian recurrent matrix of gain recurrent_scale (the GRU's update-gate bias too)."""
    return init_rnn(key, in_dim, hidden, 1, cell=cell, recurrent_scale=recurrent_scale,
                    update_gate_bias=update_gate_bias)


def rnn_flow_at_init(key: jax.Array, xs, y, *, cell: str, hidden: int,
                     recurrent_scale: float, update_gate_bias: float = 0.0,
                     length: int | None = None) -> RNNFlowStats:
    """`rnn_gradient_flow` of the network `explorer_rnn` draws, on xs: (batch, time,
    in_dim), y: (batch, 1), over the first `length` steps (MSE, tanh)."""
    params = explorer_rnn(key, xs.shape[-1], hidden, cell=cell,
                          recurrent_scale=recurrent_scale, update_gate_bias=update_gate_bias)
    return rnn_gradient_flow(params, xs, y, length=length)


def rnn_lag_map(key: jax.Array, xs, scales, *, cell: str, hidden: int,
                update_gate_bias: float = 0.0) -> np.ndarray:
    """How the last hidden state depends on earlier ones, for every recurrent scale:
    (n_scales, time), entry [i, k] = ||dh_T/dh_{T-k}||_F / sqrt(hidden) at lag k of the
    network explorer_rnn(key, ..., recurrent_scale=scales[i]) on xs: (batch, time, in_dim),
    T = time. One vmapped call over the scales (`stacked_hidden_jacobian_norms`)."""
    nets = [explorer_rnn(key, xs.shape[-1], hidden, cell=cell, recurrent_scale=float(s),
                         update_gate_bias=update_gate_bias) for s in scales]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *nets)
    return stacked_hidden_jacobian_norms(stacked, xs, "tanh")[:, ::-1]


# --------------------------------------------------------------------------- clipping

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
    raw_norm: float  # the norm of the first gradient, unclipped
    clipped_fraction: dict  # method -> (k,) fraction of the steps clipped: of the finite
    # ones, or for a run that diverged of those up to its divergence

    def at(self, index: int) -> "ClipPoint":
        """The runs at threshold `index` (an index into thresholds)."""
        def pick(name, values):
            return np.asarray(values if name == "none" else values[index])

        loss = {name: pick(name, log.loss) for name, log in self.logs.items()}
        return ClipPoint(
            float(self.thresholds[index]), loss,
            {name: pick(name, log.nonfinite) for name, log in self.logs.items()},
            {name: divergence_step(values) for name, values in loss.items()},
            *({name: int(field[name][index]) for name in CLIP_METHODS}
              for field in (self.clipped, self.finite, self.clipped_before)),
            *({name: float(field[name][index]) for name in CLIP_METHODS}
              for field in (self.first_norm, self.first_angle)),
            self.raw_norm)


class ClipPoint(NamedTuple):
    """`ClipExperiment.at(index)`: the runs at one threshold. loss and nonfinite have an
    entry per run ("none" and each method), the rest per method."""

    threshold: float
    loss: dict  # name -> (steps,) training loss
    nonfinite: dict  # name -> (steps,) bool: the step's loss or gradient is inf/NaN
    diverged: dict  # name -> the step the run diverged at, or None
    clipped: dict  # method -> clipped steps among the finite ones
    finite: dict  # method -> finite steps
    clipped_before: dict  # method -> clipped steps up to the divergence
    first_norm: dict  # method -> the first gradient's norm after clipping
    first_angle: dict  # method -> its angle to the unclipped one, in degrees
    raw_norm: float  # the first gradient's norm, unclipped


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
    fraction = {name: np.where(diverged[name] >= 0,
                               clipped_before[name] / np.maximum(diverged[name] + 1, 1),
                               clipped[name] / np.maximum(finite[name], 1))
                for name in CLIP_METHODS}
    return ClipExperiment(np.asarray(thresholds), logs, clipped, finite, diverged,
                          clipped_before, gradient, first_norm, first_angle, raw.size,
                          float(np.linalg.norm(raw)), fraction)
