"""gradviz.experiments: the explorers' computations, checked against plain references."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import rnn_hidden

from gradviz.clipping import record_clipping
from gradviz.data import adding_problem, digits
from gradviz.experiments import (
    CLIP_METHODS,
    clip_experiment,
    clipped_gradient,
    first_gradient,
    flow_with_theory,
    phase_point,
    rnn_flow_at_init,
    rnn_lag_map,
)
from gradviz.flow import gradient_flow, rnn_gradient_flow
from gradviz.models import init_mlp
from gradviz.phase import phase_diagram
from gradviz.rnn import init_rnn
from gradviz.runs import divergence_step
from gradviz.train import train_rnn

KEY = jax.random.PRNGKey(0)

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


def test_clip_experiment_at_picks_one_thresholds_runs(small):
    for index in range(len(THRESHOLDS)):
        point = small.at(index)
        assert point.threshold == THRESHOLDS[index]
        np.testing.assert_array_equal(point.loss["none"], small.logs["none"].loss)
        assert point.diverged["none"] == divergence_step(small.logs["none"].loss)
        for name in CLIP_METHODS:
            np.testing.assert_array_equal(point.loss[name], small.logs[name].loss[index])
            step = small.diverged[name][index]
            assert point.diverged[name] == (None if step < 0 else step)
            assert point.clipped[name] == small.clipped[name][index]
            assert point.first_norm[name] == small.first_norm[name][index]
            # the fraction of steps clipped: of the finite ones, or up to the divergence
            fraction = (point.clipped_before[name] / (step + 1) if step >= 0
                        else point.clipped[name] / point.finite[name])
            assert small.clipped_fraction[name][index] == pytest.approx(fraction)
    raw = clipped_gradient(small.gradient, "none", 1.0)
    assert small.raw_norm == pytest.approx(float(np.sqrt(np.sum(raw.astype(np.float64) ** 2))),
                                           rel=1e-6)


# --------------------------------------------------------------------------- gradient flow

X, Y = digits(32)


def test_flow_with_theory_of_a_linear_net_predicts_its_weight_scale_per_layer():
    # analytic: a linear network's signal grows by its weight scale sigma_w per layer back
    params = init_mlp(KEY, 64, 32, 8, 10, init="gaussian", scale=1.3)
    got = flow_with_theory(params, X, Y, activation="linear", residual=False, norm="none",
                           depth=6, sigma_w=1.3, sigma_b=0.0)
    want = gradient_flow(params, X, Y, "linear", depth=6)
    np.testing.assert_allclose(got.stats.signal_norm, want.signal_norm)
    assert got.predicted_gain == pytest.approx(1.3, rel=1e-6)
    predicted = got.predicted_signal
    assert predicted.shape == (6,) and predicted[-1] == pytest.approx(want.signal_norm[-1])
    np.testing.assert_allclose(predicted[:-1] / predicted[1:], 1.3, rtol=1e-5)
    residual = flow_with_theory(params, X, Y, activation="linear", residual=True, norm="none",
                                depth=6, sigma_w=1.3, sigma_b=0.0)
    assert residual.predicted_signal is None and residual.predicted_gain is None


def test_phase_point_is_the_flow_of_the_network_init_mlp_draws_at_that_point():
    unit = init_mlp(KEY, 64, 16, 10, 10, init="gaussian", scale=1.0, bias_scale=1.0)
    diagram = phase_diagram(unit, X, Y, np.linspace(0.5, 2.0, 4), np.linspace(0.0, 0.5, 3))
    point = phase_point(unit, X, Y, diagram, 1.0, 0.0)
    direct = init_mlp(KEY, 64, 16, 10, 10, init="gaussian", scale=1.0, bias_scale=0.0)
    signal = gradient_flow(direct, X, Y, "tanh").signal_norm
    np.testing.assert_allclose(point.stats.signal_norm, signal, rtol=1e-5)
    assert point.measured_gain == pytest.approx((signal[0] / signal[-1]) ** (1 / 9), rel=1e-5)
    # tanh's edge of chaos at sigma_b = 0 is sigma_w = 1, where chi = 1
    assert point.critical_sigma_w == pytest.approx(1.0, abs=1e-4)
    assert point.predicted_gain == pytest.approx(1.0, abs=1e-4)
    assert point.grid_edge == diagram.measured_edge(0.0) or np.isnan(point.grid_edge)
    assert point.predicted_signal[-1] == pytest.approx(signal[-1])


# --------------------------------------------------------------------------- through time


def test_rnn_lag_map_rows_are_jacobians_of_the_unrolled_rnn():
    xs = jax.random.normal(KEY, (2, 5, 2))
    scales = [0.5, 1.5]
    got = rnn_lag_map(KEY, xs, scales, cell="vanilla", hidden=4)
    assert got.shape == (2, 5)
    for row, scale in zip(got, scales, strict=True):
        params = init_rnn(KEY, 2, 4, 1, recurrent_scale=scale)

        def last_hidden(perturb, b, params=params):  # h_T of example b, from a Python loop
            return rnn_hidden(params, xs, perturb=perturb)[-1, b]

        expected = np.zeros(5)
        for b in range(2):
            jac = jax.jacobian(last_hidden)(jnp.zeros((5, 2, 4)), b)  # (4, time, batch, 4)
            expected += np.linalg.norm(np.asarray(jac[:, :, b, :]), axis=(0, 2)) / 2 / 2
        np.testing.assert_allclose(row, expected[::-1], rtol=1e-5)  # by lag, 0 first
    np.testing.assert_allclose(got[:, 0], 1.0, rtol=1e-6)  # dh_T/dh_T is the identity
    assert got[0, -1] < got[1, -1]


def test_rnn_flow_at_init_is_the_flow_of_its_network():
    xs, y = adding_problem(KEY, 8, 12)
    got = rnn_flow_at_init(KEY, xs, y, cell="gru", hidden=6, recurrent_scale=1.2,
                           update_gate_bias=1.0, length=9)
    params = init_rnn(KEY, 2, 6, 1, cell="gru", recurrent_scale=1.2, update_gate_bias=1.0)
    np.testing.assert_array_equal(got.signal_norm,
                                  rnn_gradient_flow(params, xs, y, length=9).signal_norm)
