import jax
import numpy as np
import pytest

from gradviz.data import adding_problem, digits


def test_digits_are_standardised_and_labelled():
    data = digits()
    assert data.x.shape == (1797, 64) and data.y.shape == (1797,)
    x = np.asarray(data.x, np.float64)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5)
    stds = x.std(axis=0)
    assert np.all((np.abs(stds - 1) < 1e-4) | (stds == 0))
    assert set(np.asarray(data.y).tolist()) == set(range(10))
    assert digits(100).x.shape == (100, 64)
    with pytest.raises(ValueError, match="n must be in"):
        digits(0)


def test_adding_problem_marks_one_value_in_each_half():
    xs, y = adding_problem(jax.random.PRNGKey(0), 64, 20)
    xs, y = np.asarray(xs), np.asarray(y)
    assert xs.shape == (64, 20, 2) and y.shape == (64, 1)
    marks = xs[:, :, 1]
    assert np.all(marks[:, :10].sum(axis=1) == 1) and np.all(marks[:, 10:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (xs[:, :, 0] * marks).sum(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="length must be in"):
        adding_problem(jax.random.PRNGKey(0), 4, 1)
