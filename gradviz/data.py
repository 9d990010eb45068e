"""Datasets that ship inside packages or are generated: nothing is downloaded."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

from gradviz.validate import check_int_range


class Dataset(NamedTuple):
    """Inputs x: (n, features) float32 and integer labels y: (n,)."""

    x: jax.Array
    y: jax.Array


TRAIN_SIZE = 1500  # digits[:1500] is the training split, digits[1500:] the held-out test split


def digits(n: int | None = None) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes, bundled with it).

    Pixels (0..16) are standardised per pixel with the mean and standard deviation of the
    training split only, the first TRAIN_SIZE = 1500 images (pixels constant there are
    only centred), so the 297 held-out images [1500:] never inform the inputs: no test
    statistics leak into training. `n` keeps the first n examples.
    """
    bunch = load_digits()
    x = bunch.data.astype(np.float64)
    train = x[:TRAIN_SIZE]
    std = train.std(axis=0)
    x = (x - train.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y = bunch.target
    if n is not None:
        check_int_range("n", n, 1, len(x))
        x, y = x[:n], y[:n]
    return Dataset(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32))


def digits_split() -> tuple[Dataset, Dataset]:
    """(train, test): the first 1500 digits and the remaining 297, standardised with the
    training split's statistics only (see `digits`)."""
    data = digits()
    return (Dataset(data.x[:TRAIN_SIZE], data.y[:TRAIN_SIZE]),
            Dataset(data.x[TRAIN_SIZE:], data.y[TRAIN_SIZE:]))


def adding_problem(key: jax.Array, batch: int, length: int) -> tuple[jax.Array, jax.Array]:
    """The adding problem (Hochreiter & Schmidhuber, 1997): a long-range memory task.

    Each sequence xs: (batch, length, 2) has random values in [0, 1) in channel 0 and
    exactly two 1s in channel 1, one in each half; the target y: (batch, 1) is the sum
    of the two marked values. Predicting the mean, 1.0, gives mean squared error ~1/6.
    """
    check_int_range("batch", batch, 1, 1_000_000)
    check_int_range("length", length, 2, 100_000)
    k_values, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_values, (batch, length))
    half = length // 2
    first = jax.random.randint(k_first, (batch,), 0, half)
    second = jax.random.randint(k_second, (batch,), half, length)
    steps = jnp.arange(length)
    marks = ((steps == first[:, None]) | (steps == second[:, None])).astype(jnp.float32)
    xs = jnp.stack([values, marks], axis=-1)
    return xs, jnp.sum(values * marks, axis=1, keepdims=True)
