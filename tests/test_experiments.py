"""gradviz.experiments: the explorers' computations, checked against plain references."""

import jax
import numpy as np
import optax
import pytest

from gradviz.clipping import record_clipping
from gradviz.data import adding_problem
from gradviz.experiments import CLIP_METHODS, clip_experiment, clipped_gradient, first_gradient
from gradviz.rnn import init_rnn
from gradviz.train import train_rnn

THRESHOLDS = np.array([0.01, 1.0, 100.0])


@pytest.fixture(scope="module")
def small():
    return clip_experiment(THRESHOLDS, steps=12, length=10, hidden=8)


def test_clipped_gradient_matches_numpy_clipping():
    key = jax.random.PRNGKey(1)
    xs, y = adding_problem(key, 16, 8)
    gradient = first_gradient(init_rnn(key, 2, 8, 1, recurrent_scale=1.5), xs, y, "linear")
    flat = clipped_gradient(gradient, "none", 1.0)
    for c in (1e-3, 0.1, 10.0):
        np.testing.assert_allclose(clipped_gradient(gradient, "value", c), np.clip(flat, -c, c),
                                   rtol=1e-6)
        scale = min(1.0, c / np.linalg.norm(flat.astype(np.float64)))
        np.testing.assert_allclose(clipped_gradient(gradient, "global norm", c), flat * scale,
                                   rtol=1e-5)


def test_each_vmapped_clip_run_equals_its_own_unvmapped_run(small):
    key = jax.random.PRNGKey(0)
    xs, y = adding_problem(key, 512, 10)
    params = init_rnn(key, 2, 8, 1, recurrent_scale=1.1)
    for name, clip in CLIP_METHODS.items():
        optimizer = optax.chain(record_clipping(clip(1.0)), optax.sgd(0.01))
        alone = train_rnn(key, params, xs, y, optimizer, 12, batch_size=64, activation="linear")
        np.testing.assert_allclose(small.logs[name].loss[1], alone.loss, rtol=1e-5)
    plain = train_rnn(key, params, xs, y, optax.sgd(0.01), 12, batch_size=64,
                      activation="linear")
    np.testing.assert_array_equal(small.logs["none"].loss, plain.loss)


def test_clip_experiment_shapes_and_the_norm_cap(small):
    raw = np.linalg.norm(clipped_gradient(small.gradient, "none", 1.0).astype(np.float64))
    for name in CLIP_METHODS:
        for field in (small.clipped, small.finite, small.diverged, small.clipped_before,
                      small.first_norm, small.first_angle):
            assert np.shape(field[name]) == (len(THRESHOLDS),)
        assert np.asarray(small.logs[name].loss).shape == (len(THRESHOLDS), 12)
    np.testing.assert_allclose(small.first_norm["global norm"], np.minimum(THRESHOLDS, raw),
                               rtol=1e-5)
    assert small.n_params == clipped_gradient(small.gradient, "none", 1.0).size
