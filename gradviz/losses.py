"""Losses: the mean loss of a batch, the checks its targets must pass, and a Euclidean
norm that does not overflow (every gradient norm gradviz reports is measured with it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradviz.validate import check_choice

LOSSES: tuple[str, ...] = ("cross_entropy", "mse")


def safe_norm(x: jax.Array, axis=None) -> jax.Array:
    """The Euclidean norm, computed without overflowing where x**2 would.

    Low-precision x (float16, bfloat16) is measured in float32: the measurement itself
    must not underflow or overflow where the values it measures did not.
    """
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    peak = jnp.max(jnp.abs(x), axis=axis, keepdims=True, initial=0.0)  # 0 for an empty x
    scale = jnp.where(peak > 0, peak, 1.0)
    norm = jnp.sqrt(jnp.sum(jnp.square(x / scale), axis=axis, keepdims=True)) * scale
    return jnp.squeeze(norm, axis=axis) if axis is not None else norm.reshape(())


def loss_value(outputs: jax.Array, y: jax.Array, loss: str) -> jax.Array:
    """Mean loss over the batch: cross-entropy with integer labels y: (batch,), or
    squared error with targets y: (batch, out_dim)."""
    if loss == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, y).mean()
    return 0.5 * jnp.mean(jnp.sum(jnp.square(outputs - y), axis=-1))


def check_targets(y, batch: int, out_dim: int, loss: str) -> None:
    """ValueError unless y suits `loss`: int labels (batch,) or float targets (batch, out_dim)."""
    check_choice("loss", loss, LOSSES)
    shape = np.shape(y)
    if loss == "cross_entropy":
        if shape != (batch,) or not np.issubdtype(np.asarray(y).dtype, np.integer):
            raise ValueError(
                f"cross_entropy needs integer labels y of shape ({batch},), "
                f"got {np.asarray(y).dtype} {shape}"
            )
        if np.any((np.asarray(y) < 0) | (np.asarray(y) >= out_dim)):
            raise ValueError(f"labels must be in [0, {out_dim - 1}]")
    elif shape != (batch, out_dim):
        raise ValueError(f"mse needs targets y of shape ({batch}, {out_dim}), got {shape}")
