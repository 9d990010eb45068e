"""Clipping experiments: record whether gradient clipping (by value or by global norm)
changed a step, read the fraction of clipped steps from a training log, and clip the
weights themselves.

To record clipping, wrap the clipping transform with `record_clipping`::

    optimizer = optax.chain(record_clipping(optax.clip_by_global_norm(1.0)), optax.sgd(0.1))

and train with gradviz.train; the log's `clipped` says, step by step, whether it acted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradviz.validate import check_positive, check_transform

if TYPE_CHECKING:  # for annotations only: gradviz.train imports this module
    from gradviz.train import TrainLog


class ClipRecordState(NamedTuple):
    """State of a `record_clipping` transform: the inner transform's state, and whether
    it changed the update at the last step."""

    inner: Any
    clipped: jax.Array  # () bool


def record_clipping(clip: optax.GradientTransformation) -> optax.GradientTransformation:
    """`clip` (e.g. optax.clip_by_global_norm(1.0) or optax.clip(0.1)), unchanged, except
    that its state remembers whether it changed the update; the training log reads it.

    "Changed" compares the update before and after `clip`, element by element (NaN equals
    NaN). For clip_by_global_norm(c) that is: the norm of its input exceeded c; for
    clip(c) (by value): some element of its input had |g| > c. The input is the raw
    gradient when `clip` comes first in an optax.chain.
    """
    check_transform("clip", clip)

    def init(params):
        return ClipRecordState(clip.init(params), jnp.zeros((), bool))

    def update(updates, state, params=None):
        new_updates, inner = clip.update(updates, state.inner, params)
        changed = jax.tree.map(_changed, updates, new_updates)
        return new_updates, ClipRecordState(inner, jnp.any(jnp.stack(jax.tree.leaves(changed))))

    return optax.GradientTransformation(init, update)


def _changed(before: jax.Array, after: jax.Array) -> jax.Array:
    """Whether any element differs, counting NaN as equal to NaN."""
    same = (before == after) | (jnp.isnan(before) & jnp.isnan(after))
    return ~jnp.all(same)


def clip_flags(opt_state) -> list[jax.Array]:
    """The `clipped` flags, () bool each, of every record_clipping transform inside an
    optimizer state (any pytree of optax states); the training loop logs their `any`."""
    is_record = lambda s: isinstance(s, ClipRecordState)  # noqa: E731
    return [s.clipped for s in jax.tree.leaves(opt_state, is_leaf=is_record) if is_record(s)]


def clip_fraction(log: TrainLog) -> float | np.ndarray:
    """The fraction of steps at which clipping changed the update.

    A float for one run; an array (runs,) for a log of several runs (from vmap).
    """
    if log.clipped is None:
        raise ValueError(
            "this run recorded no clipping: wrap the clipping transform, e.g. "
            "optax.chain(record_clipping(optax.clip_by_global_norm(1.0)), optax.sgd(0.1))"
        )
    fraction = np.mean(np.asarray(log.clipped), axis=-1)
    return float(fraction) if fraction.ndim == 0 else fraction


def clipped_finite_steps(log: TrainLog) -> tuple[np.ndarray, np.ndarray]:
    """How many of a run's finite steps (loss and gradients finite) clipping changed, and
    how many finite steps there were: (clipped, finite), ints, or arrays (runs,) for a
    log of several runs. A step whose gradient is NaN is neither clipped nor healthy,
    so it is counted in neither: a run that diverged is not shown as one that rarely
    clips."""
    clip_fraction(log)  # the same ValueError when nothing was recorded
    finite = ~np.asarray(log.nonfinite)
    clipped = np.sum(np.asarray(log.clipped) & finite, axis=-1)
    return clipped, np.sum(finite, axis=-1)


def clip_weights(limit: float) -> optax.GradientTransformation:
    """Weight clipping: after the step, every parameter is clipped to [-limit, limit].

    Unlike gradient clipping (optax.clip, optax.clip_by_global_norm), which bounds the
    step, this bounds the weights themselves (as in the original Wasserstein GAN). Put it
    last in an optax.chain, e.g. optax.chain(optax.sgd(0.1), clip_weights(0.5)): it turns
    the update u into clip(p + u) - p, so it needs the parameters p.
    """
    limit = check_positive("weight clipping limit", limit)

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("clip_weights needs the parameters: optimizer.update(g, s, params)")
        clipped = jax.tree.map(lambda p, u: jnp.clip(p + u, -limit, limit) - p, params, updates)
        return clipped, state

    return optax.GradientTransformation(init, update)
