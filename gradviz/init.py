"""Weight initialisation schemes.

Every scheme starts from the same standard-normal draw, so switching scheme with the
same key changes the scale (or, for orthogonal, the spectrum) and nothing else.
`scale` is a gain multiplying the scheme's own standard deviation; for "gaussian"
it is exactly sigma_w in W_ij ~ N(0, sigma_w^2 / fan_in).

  gaussian    std = scale / sqrt(fan_in)
  xavier      std = scale * sqrt(2 / (fan_in + fan_out))      (Glorot & Bengio, 2010)
  he          std = scale * sqrt(2 / fan_in)                  (He et al., 2015)
  orthogonal  W = scale * Q with Q's columns (or rows) orthonormal (Saxe et al., 2014)
"""

import jax
import jax.numpy as jnp
from jax import lax

from gradviz.validate import check_choice, check_positive

INIT_SCHEMES: tuple[str, ...] = ("gaussian", "xavier", "he", "orthogonal")


def init_index(scheme: str) -> int:
    """The position of `scheme` in INIT_SCHEMES; ValueError listing the valid schemes."""
    return check_choice("init scheme", scheme, INIT_SCHEMES)


def sigma_w(scheme: str, scale: float, fan_in: int, fan_out: int) -> float:
    """The effective sigma_w: fan_in * Var(W_ij) = sigma_w^2 (what mean-field theory uses).

    For orthogonal weights the entries have variance 1 / max(fan_in, fan_out) times
    scale^2; for a square layer that is sigma_w = scale.
    """
    init_index(scheme)
    if scheme == "gaussian":
        return float(scale)
    if scheme == "xavier":
        return float(scale * (2 * fan_in / (fan_in + fan_out)) ** 0.5)
    if scheme == "he":
        return float(scale * 2**0.5)
    return float(scale * (fan_in / max(fan_in, fan_out)) ** 0.5)


def _orthogonal(z: jax.Array) -> jax.Array:
    """The orthogonal factor Q of z = QR (made unique by the signs of R's diagonal)."""
    fan_in, fan_out = z.shape
    tall = z if fan_in >= fan_out else z.T
    q, r = jnp.linalg.qr(tall)
    q = q * jnp.sign(jnp.diag(r))
    return q if fan_in >= fan_out else q.T


def weight_from_normal(z: jax.Array, scheme_index, scale) -> jax.Array:
    """The weight matrix (fan_in, fan_out) that scheme INIT_SCHEMES[scheme_index] with gain
    `scale` makes of the standard-normal draw z: (fan_in, fan_out). scheme_index and scale
    may be traced (jit, vmap): one compiled function serves every scheme and gain."""
    fan_in, fan_out = z.shape
    stds = jnp.array([fan_in**-0.5, (2 / (fan_in + fan_out)) ** 0.5, (2 / fan_in) ** 0.5, 1.0])
    shaped = lax.cond(scheme_index == 3, _orthogonal, lambda z: z, z)
    return scale * stds[scheme_index] * shaped


def init_weight(
    key: jax.Array, fan_in: int, fan_out: int, scheme: str = "gaussian", scale: float = 1.0
) -> jax.Array:
    """A weight matrix W: (fan_in, fan_out) drawn with `scheme` and gain `scale`."""
    check_positive("init scale", scale, allow_zero=True)
    z = jax.random.normal(key, (fan_in, fan_out))
    return weight_from_normal(z, init_index(scheme), scale)
