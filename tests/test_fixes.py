"""Chapter 3's core additions against independent references: per-point loops, unrolled
networks, optax, numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import ACTS

import gradviz as gv
from gradviz import theory
from gradviz.clipping import clip_weights
from gradviz.compiles import count_compiles
from gradviz.isometry import jacobian_spectra
from gradviz.phase import phase_diagram, scale_mlp
from gradviz.runs import across_runs
from gradviz.train import (
    params_out_dim,
    train_mlp,
    train_mlp_seeds,
    train_rnn,
    train_rnn_seeds,
)

KEY = jax.random.PRNGKey(0)
DATA = gv.data.digits(32)
SIGMA_WS = np.array([0.5, 1.0, 1.6, 2.5])
SIGMA_BS = np.array([0.0, 0.4, 1.0])


# --------------------------------------------------------------------------- phase diagram


def unit_params(depth=12, width=16):
    return gv.init_mlp(KEY, 64, width, depth, 10, init="gaussian", scale=1.0, bias_scale=1.0)


def test_scale_mlp_is_init_mlp_at_that_scale():
    scaled = scale_mlp(unit_params(), 1.7, 0.3)
    direct = gv.init_mlp(KEY, 64, 16, 12, 10, init="gaussian", scale=1.7, bias_scale=0.3)
    for name in direct:
        np.testing.assert_allclose(scaled[name], direct[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_phase_diagram_equals_a_loop_of_gradient_flows(activation):
    got = phase_diagram(unit_params(), DATA.x, DATA.y, SIGMA_WS, SIGMA_BS, activation)
    assert got.log_gain.shape == (len(SIGMA_BS), len(SIGMA_WS)) and got.depth == 12
    for i, sigma_b in enumerate(SIGMA_BS):
        for j, sigma_w in enumerate(SIGMA_WS):
            params = gv.init_mlp(KEY, 64, 16, 12, 10, init="gaussian", scale=float(sigma_w),
                                 bias_scale=float(sigma_b))
            signal = gv.gradient_flow(params, DATA.x, DATA.y, activation).signal_norm
            want = np.log(signal[0] / signal[-1]) / 11
            assert got.log_gain[i, j] == pytest.approx(want, rel=1e-3, abs=1e-4)
    critical = theory.critical_sigma_w(SIGMA_BS, activation)
    np.testing.assert_allclose(got.critical_sigma_w, critical, rtol=1e-6)


def test_phase_diagram_sign_follows_the_critical_line():
    """Well below the edge of chaos the measured gain is < 0, well above it > 0 (tanh)."""
    wide = unit_params(depth=20, width=128)
    got = phase_diagram(wide, DATA.x, DATA.y, [0.6, 3.0], [0.0, 0.5], "tanh")
    assert np.all(got.log_gain[:, 0] < -0.1) and np.all(got.log_gain[:, 1] > 0.05)
    # linear: the gain per layer is sigma_w, so the log gain is log(sigma_w) (to ~2%)
    lin = phase_diagram(wide, DATA.x, DATA.y, [0.5, 1.0, 1.5], [0.0], "linear")
    np.testing.assert_allclose(lin.log_gain[0], np.log([0.5, 1.0, 1.5]), atol=0.03)


def test_a_new_grid_or_activation_does_not_recompile():
    params = unit_params()
    phase_diagram(params, DATA.x, DATA.y, SIGMA_WS, SIGMA_BS, "tanh")
    with count_compiles() as log:
        phase_diagram(params, DATA.x, DATA.y, SIGMA_WS + 0.1, SIGMA_BS, "relu")
    assert log.count == 0


@pytest.mark.parametrize(
    "change, message",
    [(dict(sigma_ws=[]), "sigma_ws must be a non-empty"), (dict(sigma_bs=[-1.0]), "sigma_bs"),
     (dict(sigma_ws=[[1.0]]), "1-D"), (dict(activation="swish"), "unknown activation"),
     (dict(x=DATA.x[:, :5]), "last dimension 64")],
)
def test_phase_diagram_bad_inputs(change, message):
    args = dict(unit_params=unit_params(), x=DATA.x, y=DATA.y, sigma_ws=SIGMA_WS,
                sigma_bs=SIGMA_BS) | change
    with pytest.raises(ValueError, match=message):
        phase_diagram(**args)
    with pytest.raises(ValueError, match="depth >= 2"):
        phase_diagram(unit_params(depth=1), DATA.x, DATA.y, SIGMA_WS, SIGMA_BS)


# --------------------------------------------------------------------------- isometry


def unrolled_jacobian(key, width, depth, activation, init, scale, bias_scale):
    """d h_depth / d h_0 by jax.jacfwd of a plain loop over the same random draws."""
    k_input, k_weights, k_biases = jax.random.split(key, 3)
    layer_keys = jax.random.split(k_weights, depth)
    weights = [gv.init.init_weight(k, width, width, init, scale) for k in layer_keys]
    biases = bias_scale * jax.random.normal(k_biases, (depth, width))
    phi = ACTS[activation]

    def forward(h):
        for W, b in zip(weights, biases, strict=True):
            h = phi(h @ W + b)
        return h

    return jax.jacfwd(forward)(jax.random.normal(k_input, (width,)))


@pytest.mark.parametrize("activation, init, scale, bias_scale",
                         [("tanh", "gaussian", 1.3, 0.2), ("relu", "he", 1.0, 0.0),
                          ("tanh", "orthogonal", 1.0, 0.0)])
def test_jacobian_spectra_match_svd_of_an_unrolled_jacobian(activation, init, scale, bias_scale):
    spectra = jacobian_spectra(KEY, 12, 6, activation, init, scale, bias_scale)
    assert spectra.singular_values.shape == (6, 12)
    for depth in (1, 3, 6):
        # the loop draws depth keys, the function max_depth: compare at max_depth only
        if depth == 6:
            jac = unrolled_jacobian(KEY, 12, 6, activation, init, scale, bias_scale)
            want = np.linalg.svd(np.asarray(jac), compute_uv=False)
            np.testing.assert_allclose(spectra.at(depth), want, rtol=1e-4, atol=1e-6)
        assert np.all(np.diff(spectra.at(depth)) <= 1e-6)  # largest first


def test_linear_orthogonal_nets_are_exactly_isometric_and_gaussian_ones_are_not():
    scale = 1.05
    spectra = jacobian_spectra(KEY, 16, 30, "linear", "orthogonal", scale)
    depths = np.arange(1, 31)[:, None]
    np.testing.assert_allclose(spectra.singular_values, scale**depths * np.ones((1, 16)),
                               rtol=1e-4)
    gaussian = jacobian_spectra(KEY, 16, 30, "linear", "gaussian", 1.0).at(30)
    assert gaussian[0] / gaussian[-1] > 1e3  # the condition number blows up with depth


def test_jacobian_spectra_bad_inputs():
    with pytest.raises(ValueError, match="max_depth"):
        jacobian_spectra(KEY, 8, 0)
    with pytest.raises(ValueError, match="unknown init scheme"):
        jacobian_spectra(KEY, 8, 4, init="kaiming")
    with pytest.raises(ValueError, match="depth must be in"):
        jacobian_spectra(KEY, 8, 4).at(5)


# --------------------------------------------------------------------------- training helpers


X = jax.random.normal(jax.random.PRNGKey(1), (32, 8))
Y = jnp.arange(32) % 4
SGD = optax.sgd(0.1)


def test_clip_weights_keeps_every_weight_in_range_and_equals_a_projected_step():
    params = gv.init_mlp(KEY, 8, 16, 3, 4, init="he", scale=2.0)
    limit = 0.2
    optimizer = optax.chain(optax.sgd(0.5), clip_weights(limit))
    log = train_mlp(KEY, params, X, Y, optimizer, 5)
    largest = max(float(jnp.abs(p).max()) for p in jax.tree.leaves(log.params))
    assert largest == pytest.approx(limit, rel=1e-6) or largest < limit  # float32 rounding
    # one step by hand: sgd, then clip each weight to [-limit, limit]
    grads = jax.grad(lambda p: gv.losses.loss_value(gv.apply_mlp(p, X), Y, "cross_entropy"))(params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    stepped = optax.apply_updates(params, updates)
    want = jax.tree.map(lambda p, g: np.clip(p - 0.5 * g, -limit, limit), params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 stepped, want)
    with pytest.raises(ValueError, match="needs the parameters"):
        clip_weights(1.0).update(grads, optax.EmptyState())
    with pytest.raises(ValueError, match="weight clipping limit"):
        clip_weights(0.0)


def test_across_runs_is_numpy_over_the_first_axis():
    values = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 5.0, np.nan]])
    spread = across_runs(values)
    np.testing.assert_allclose(spread.mean[:2], [2.0, 3.0])
    np.testing.assert_allclose(spread.std[:2], [np.std([1, 3, 2]), np.std([2, 2, 5])])
    np.testing.assert_allclose(spread.low[:2], [1.0, 2.0])
    np.testing.assert_allclose(spread.high[:2], [3.0, 5.0])
    assert np.isnan(spread.mean[2])  # a run that overflowed is not hidden
    with pytest.raises(ValueError, match="leading runs axis"):
        across_runs(3.0)


def test_train_mlp_seeds_equals_a_loop_of_init_and_train():
    keys = jax.random.split(KEY, 3)
    options = dict(batch_size=8, activation="relu", norm="layer")
    many = train_mlp_seeds(keys, X, Y, SGD, 10, width=16, depth=3, init="he", **options)
    assert many.loss.shape == (3, 10) and many.layer_grad_norm.shape == (3, 10, 3)
    for i, key in enumerate(keys):
        init_key, batch_key = jax.random.split(key)
        params = gv.init_mlp(init_key, 8, 16, 3, 4, init="he")
        one = train_mlp(batch_key, params, X, Y, SGD, 10, **options)
        np.testing.assert_allclose(many.loss[i], one.loss, rtol=1e-4)
        np.testing.assert_allclose(many.accuracy[i], one.accuracy)
    assert params_out_dim(Y, "cross_entropy") == 4


def test_train_rnn_seeds_equals_a_loop_of_init_and_train():
    xs, y = gv.data.adding_problem(jax.random.PRNGKey(3), 64, 5)
    keys = jax.random.split(KEY, 2)
    init_options = dict(update_gate_bias=1.0)
    many = train_rnn_seeds(keys, xs, y, SGD, 6, hidden=8, cell="gru",
                           init_options=init_options, batch_size=16)
    for i, key in enumerate(keys):
        init_key, batch_key = jax.random.split(key)
        params = gv.init_rnn(init_key, 2, 8, 1, cell="gru", **init_options)
        one = train_rnn(batch_key, params, xs, y, SGD, 6, batch_size=16)
        np.testing.assert_allclose(many.loss[i], one.loss, rtol=1e-4)
    with pytest.raises(ValueError, match="stack of PRNG keys"):
        train_rnn_seeds(KEY, xs, y, SGD, 6, hidden=8)


def test_describe_runs_states_the_last_step_over_the_runs():
    keys = jax.random.split(KEY, 3)
    many = train_mlp_seeds(keys, X, Y, SGD, 10, width=16, depth=3, x_test=X[:8], y_test=Y[:8])
    text = gv.runs.describe_runs(many)
    accuracy = np.asarray(many.test_accuracy[:, -1])
    assert f"test accuracy {accuracy.mean():.3g} ± {accuracy.std():.2g}" in text
    assert f"({accuracy.min():.3g} to {accuracy.max():.3g})" in text
    assert "inf/NaN" not in text
    with pytest.raises(ValueError, match="several runs"):
        gv.runs.describe_runs(train_mlp(KEY, gv.init_mlp(KEY, 8, 16, 3, 4), X, Y, SGD, 10))


# --------------------------------------------------------------------------- accurate spectra

DIGITS = 60  # the decimal reference's precision


def decimal_product(factors):
    """M_d ... M_1 as rows of Decimals, computed with DIGITS significant digits."""
    from decimal import Decimal, getcontext

    getcontext().prec = DIGITS
    n = factors.shape[1]
    product = [[Decimal(int(i == j)) for j in range(n)] for i in range(n)]
    for m in factors:
        md = [[Decimal(float(v)) for v in row] for row in m]
        product = [[sum(md[i][k] * product[k][j] for k in range(n)) for j in range(n)]
                   for i in range(n)]
    return product


def decimal_singular_values(rows):
    """Singular values of a matrix of Decimals (rows) by one-sided Jacobi in decimal
    arithmetic with DIGITS digits: a reference that no float round-off reaches."""
    from decimal import Decimal, getcontext

    getcontext().prec = DIGITS
    columns = [list(column) for column in zip(*rows, strict=True)]
    n = len(columns)

    def dot(u, v):
        return sum(a * b for a, b in zip(u, v, strict=True))

    for _ in range(60):
        worst = Decimal(0)
        for i in range(n - 1):
            for j in range(i + 1, n):
                ci, cj = columns[i], columns[j]
                a, b, c = dot(ci, ci), dot(cj, cj), dot(ci, cj)
                if c == 0:
                    continue
                worst = max(worst, abs(c) / (a * b).sqrt())
                zeta = (b - a) / (2 * c)
                t = (1 if zeta >= 0 else -1) / (abs(zeta) + (1 + zeta * zeta).sqrt())
                cs = 1 / (1 + t * t).sqrt()
                sn = cs * t
                columns[i] = [cs * x - sn * y for x, y in zip(ci, cj, strict=True)]
                columns[j] = [sn * x + cs * y for x, y in zip(ci, cj, strict=True)]
        if worst < Decimal(10) ** (10 - DIGITS):
            break
    return np.array(sorted((float(dot(c, c).sqrt()) for c in columns), reverse=True))


@pytest.mark.parametrize("width", [5, 6])
def test_product_singular_values_are_accurate_where_a_plain_svd_is_noise(width):
    factors = np.random.default_rng(width).standard_normal((40, width, width)) / np.sqrt(width)
    got = gv.isometry.product_singular_values(factors)
    assert got.shape == (40, width)
    want = decimal_singular_values(decimal_product(factors))
    assert want[-1] / want[0] < 1e-20  # a spread that no SVD of the multiplied-out product sees
    np.testing.assert_allclose(got[-1], want, rtol=1e-9)
    naive = np.linalg.svd(np.linalg.multi_dot(factors[::-1]), compute_uv=False)
    assert abs(naive[-1] / want[-1] - 1) > 1  # the plain float64 SVD is off by far
    # row l-1 is the product of the first l factors
    np.testing.assert_allclose(got[0], np.linalg.svd(factors[0], compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(got[2], np.linalg.svd(factors[2] @ factors[1] @ factors[0],
                                                     compute_uv=False), rtol=1e-10)


def test_product_singular_values_of_orthogonal_factors_are_exactly_one():
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((30, 8, 8)))[0]
    np.testing.assert_allclose(gv.isometry.product_singular_values(q), 1.0, rtol=1e-12)


def test_product_singular_values_bad_inputs():
    with pytest.raises(ValueError, match="stack of square matrices"):
        gv.isometry.product_singular_values(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="finite"):
        gv.isometry.product_singular_values(np.full((2, 3, 3), np.nan))


def test_jacobian_spectra_are_float64_and_resolve_the_smallest_singular_value():
    spectra = jacobian_spectra(KEY, 8, 24, "linear", "gaussian", 1.0)
    assert spectra.singular_values.dtype == np.float64
    smallest = spectra.at(24)[-1]
    assert 0 < smallest < 1e-15 * spectra.at(24)[0]  # below what a float64 SVD resolves
    # the same key gives the same spectra
    again = jacobian_spectra(KEY, 8, 24, "linear", "gaussian")
    np.testing.assert_array_equal(spectra.singular_values, again.singular_values)


# --------------------------------------------------------------------------- the grid's edge


def test_measured_edge_interpolates_the_crossing_of_zero():
    from gradviz.phase import PhaseDiagram

    sigma_ws, sigma_bs = np.array([0.5, 1.0, 1.5, 2.0]), np.array([0.0, 1.0])
    # log gain = sigma_w - 1 - 0.4 sigma_b: crosses 0 at sigma_w = 1 + 0.4 sigma_b
    gain = sigma_ws[None, :] - 1 - 0.4 * sigma_bs[:, None]
    diagram = PhaseDiagram(sigma_ws, sigma_bs, gain, np.full(2, np.nan), "tanh", 10)
    for sigma_b in (0.0, 0.25, 1.0):
        assert diagram.measured_edge(sigma_b) == pytest.approx(1 + 0.4 * sigma_b)
    no_crossing = PhaseDiagram(sigma_ws, sigma_bs, -np.ones((2, 4)), np.full(2, np.nan), "tanh", 10)
    assert np.isnan(no_crossing.measured_edge(0.5))
