import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

from gradviz.data import TRAIN_SIZE, adding_problem, digits, digits_split


def test_digits_are_standardised_on_the_training_split_only():
    data = digits()
    assert data.x.shape == (1797, 64) and data.y.shape == (1797,)
    x = np.asarray(data.x, np.float64)
    train = x[:TRAIN_SIZE]
    assert np.allclose(train.mean(axis=0), 0, atol=1e-5)
    stds = train.std(axis=0)
    assert np.all((np.abs(stds - 1) < 1e-4) | (stds == 0))
    # an independent reference: the raw pixels with the training split's statistics
    raw = load_digits().data
    mean, std = raw[:1500].mean(axis=0), raw[:1500].std(axis=0)
    np.testing.assert_allclose(x, (raw - mean) / np.where(std > 0, std, 1), atol=1e-5)
    # the held-out images did not inform the statistics: their mean is not exactly 0
    assert np.abs(x[TRAIN_SIZE:].mean(axis=0)).max() > 1e-2
    assert set(np.asarray(data.y).tolist()) == set(range(10))
    assert digits(100).x.shape == (100, 64)
    with pytest.raises(ValueError, match="n must be in"):
        digits(0)


def test_digits_split_is_the_first_1500_and_the_rest():
    train, test = digits_split()
    data = digits()
    assert train.x.shape == (1500, 64) and test.x.shape == (297, 64)
    np.testing.assert_array_equal(np.asarray(test.x), np.asarray(data.x[1500:]))
    np.testing.assert_array_equal(np.asarray(train.y), np.asarray(data.y[:1500]))


def test_adding_problem_marks_one_value_in_each_half():
    xs, y = adding_problem(jax.random.PRNGKey(0), 64, 20)
    xs, y = np.asarray(xs), np.asarray(y)
    assert xs.shape == (64, 20, 2) and y.shape == (64, 1)
    marks = xs[:, :, 1]
    assert np.all(marks[:, :10].sum(axis=1) == 1) and np.all(marks[:, 10:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (xs[:, :, 0] * marks).sum(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="length must be in"):
        adding_problem(jax.random.PRNGKey(0), 4, 1)
