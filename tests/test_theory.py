"""Mean-field theory (gradviz.theory) against independent references: closed forms,
scipy's adaptive quadrature and root finders in float64, Monte Carlo, and the signal
norms measured in real random networks by gradviz.gradient_flow."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, special

import gradviz as gv
from gradviz import theory as th
from gradviz.activations import ACTIVATION_NAMES, derivative
from gradviz.compiles import count_compiles

# phi and phi' in float64 numpy, written from their formulas (no gradviz code)
NP_ACTS = {
    "linear": (lambda x: x, lambda x: np.ones_like(x)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (special.expit, lambda x: special.expit(x) * (1 - special.expit(x))),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1, 0.01)),
    "gelu": (
        lambda x: x * special.ndtr(x),
        lambda x: special.ndtr(x) + x * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi),
    ),
}


def reference_expectation(f, q):
    """E[f(sqrt(q) z)], z ~ N(0, 1), by scipy's adaptive quadrature (split at 0)."""

    def integrand(z):
        return f(np.sqrt(q) * z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)

    kw = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 500}
    return integrate.quad(integrand, -np.inf, 0, **kw)[0] + integrate.quad(
        integrand, 0, np.inf, **kw
    )[0]


def reference_fixed_point(sigma_w, sigma_b, activation):
    """q* = sigma_w^2 E[phi(sqrt(q*) z)^2] + sigma_b^2 by brentq, for a bounded phi."""
    phi = NP_ACTS[activation][0]

    def residual(q):
        return sigma_w**2 * reference_expectation(lambda x: phi(x) ** 2, q) + sigma_b**2 - q

    return optimize.brentq(residual, 1e-12, sigma_w**2 + sigma_b**2 + 1, xtol=1e-12)


def reference_chi(sigma_w, sigma_b, activation):
    q = reference_fixed_point(sigma_w, sigma_b, activation)
    phi_prime = NP_ACTS[activation][1]
    return sigma_w**2 * reference_expectation(lambda x: phi_prime(x) ** 2, q)


# --------------------------------------------------------------------------- gaussian_expectation


@pytest.mark.parametrize("q", [0.0, 0.3, 1.0, 7.0, 50.0])
def test_gaussian_expectation_closed_forms(q):
    relu_prime = derivative(jax.nn.relu)
    expect = th.gaussian_expectation
    assert float(expect(lambda x: jnp.ones_like(x), q)) == pytest.approx(1.0, rel=1e-6)
    assert float(expect(jnp.square, q)) == pytest.approx(q, rel=1e-6, abs=1e-12)
    assert float(expect(lambda x: x**4, q)) == pytest.approx(3 * q**2, rel=1e-5, abs=1e-12)
    assert float(expect(lambda x: jax.nn.relu(x) ** 2, q)) == pytest.approx(q / 2, rel=1e-6)
    if q > 0:
        assert float(expect(lambda x: relu_prime(x) ** 2, q)) == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu"])
def test_gaussian_expectation_matches_scipy_quad(activation):
    """phi^2 and phi'^2 for q up to 36 (the range a phase diagram up to sigma_w = 6
    visits), to float32 rounding."""
    phi = gv.get_activation(activation)
    phi_prime = derivative(phi)
    np_phi, np_phi_prime = NP_ACTS[activation]
    qs = np.array([0.01, 0.5, 1.0, 4.0, 16.0, 36.0])
    got_phi = th.gaussian_expectation(lambda x: phi(x) ** 2, qs)
    got_prime = th.gaussian_expectation(lambda x: phi_prime(x) ** 2, qs)
    want_phi = [reference_expectation(lambda x: np_phi(x) ** 2, q) for q in qs]
    want_prime = [reference_expectation(lambda x: np_phi_prime(x) ** 2, q) for q in qs]
    np.testing.assert_allclose(got_phi, want_phi, rtol=2e-6)
    np.testing.assert_allclose(got_prime, want_prime, rtol=2e-6)


def test_gaussian_expectation_matches_monte_carlo_and_works_traced():
    z = np.random.default_rng(0).standard_normal(1_000_000)
    samples = np.tanh(np.sqrt(2.0) * z) ** 2
    standard_error = samples.std() / np.sqrt(z.size)
    got = float(th.gaussian_expectation(lambda x: jnp.tanh(x) ** 2, 2.0))
    assert abs(got - samples.mean()) < 4 * standard_error

    qs = jnp.array([0.1, 1.0, 3.0])
    direct = th.gaussian_expectation(jnp.tanh, qs)  # odd function: 0
    np.testing.assert_allclose(direct, 0.0, atol=1e-7)
    square = th.gaussian_expectation(lambda x: jnp.tanh(x) ** 2, qs)
    jitted = jax.jit(jax.vmap(lambda q: th.gaussian_expectation(lambda x: jnp.tanh(x) ** 2, q)))
    np.testing.assert_allclose(jitted(qs), square, rtol=1e-6)


# --------------------------------------------------------------------------- closed forms


SIGMA_W = np.array([0.0, 0.5, 1.0, np.sqrt(2), 2.0])


@pytest.mark.parametrize("sigma_b", [0.0, 0.3])
def test_chi_is_exact_for_linear_and_relu_whatever_the_variance(sigma_b):
    """linear: chi = sigma_w^2; relu: sigma_w^2 / 2; leaky: sigma_w^2 (1 + 0.01^2) / 2, at the
    fixed point (even where the variance vanishes or diverges) and at any given q."""
    cases = {"linear": 1.0, "relu": 0.5, "leaky_relu": (1 + 0.01**2) / 2}
    for activation, factor in cases.items():
        want = factor * SIGMA_W**2
        np.testing.assert_allclose(th.chi(SIGMA_W, sigma_b, activation), want, rtol=1e-6)
        for q in [0.0, 1e-3, 2.0, 1e6, np.inf]:
            np.testing.assert_allclose(th.chi(SIGMA_W, sigma_b, activation, q=q), want, rtol=1e-6)
        np.testing.assert_allclose(
            th.signal_gain_per_layer(SIGMA_W, sigma_b, activation), np.sqrt(want), rtol=1e-6
        )


def test_variance_map_and_fixed_point_for_relu_and_linear():
    q = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(th.variance_map(q, 1.2, 0.3, "relu"), 1.44 * q / 2 + 0.09, rtol=1e-6)
    np.testing.assert_allclose(th.variance_map(q, 1.2, 0.3, "linear"), 1.44 * q + 0.09, rtol=1e-6)
    # a finite fixed point sigma_b^2 / (1 - a) where a = sigma_w^2 E[phi(z)^2] < 1
    assert float(th.fixed_point_variance(1.0, 0.5, "relu")) == pytest.approx(0.5, rel=1e-5)
    assert float(th.fixed_point_variance(0.8, 0.3, "linear")) == pytest.approx(0.25, rel=1e-5)
    # no finite fixed point: the variance after n_iter layers
    assert float(th.fixed_point_variance(2.0, 0.5, "relu")) == np.inf  # 2^200 overflows
    slow = th.fixed_point_variance(1.01, 0.0, "linear", q0=1.0, n_iter=100)
    assert float(slow) == pytest.approx(1.01 ** (2 * 100), rel=1e-4)
    assert float(th.fixed_point_variance(0.5, 0.0, "relu")) == 0.0  # 0.125^200 underflows
    assert float(th.fixed_point_variance(1.0, 0.0, "linear", q0=3.0)) == pytest.approx(3.0)


def test_tanh_fixed_point_and_chi_match_scipy():
    """Including sigma_b = 0.05, sigma_w = 1, where the plain iteration crawls (q_l ~ 1/(2l))."""
    for sigma_w, sigma_b in [(0.8, 0.05), (1.0, 0.05), (1.5, 0.05), (2.5, 0.3), (1.2, 1.0)]:
        q = float(th.fixed_point_variance(sigma_w, sigma_b, "tanh"))
        assert q == pytest.approx(reference_fixed_point(sigma_w, sigma_b, "tanh"), rel=1e-4)
        want = reference_chi(sigma_w, sigma_b, "tanh")
        assert float(th.chi(sigma_w, sigma_b, "tanh")) == pytest.approx(want, rel=1e-5)
    # sigma_b = 0: q* = 0 in the ordered phase, so chi = sigma_w^2 tanh'(0)^2
    assert float(th.fixed_point_variance(0.8, 0.0, "tanh")) < 1e-12
    assert float(th.chi(0.8, 0.0, "tanh")) == pytest.approx(0.64, rel=1e-6)


def test_gelu_variance_collapses_or_explodes_depending_on_where_it_starts():
    """gelu, sigma_w = 1.7, sigma_b = 0: 0 and inf both attract the variance. chi takes the
    limits gelu'(0)^2 = 1/4 (q -> 0) and E[gelu'^2] -> 1/2 (q -> inf, like relu)."""
    assert float(th.fixed_point_variance(1.7, 0.0, "gelu", q0=0.1)) < 1e-20
    assert float(th.fixed_point_variance(1.7, 0.0, "gelu", q0=1.0)) > 1e20
    low = th.fixed_point_variance(1.7, 0.0, "gelu", q0=0.1)
    assert float(th.chi(1.7, 0.0, "gelu", q=low)) == pytest.approx(1.7**2 / 4, rel=1e-5)
    assert float(th.chi(1.7, 0.0, "gelu")) == pytest.approx(1.7**2 / 2, rel=1e-5)


def test_gradient_depth_scale():
    assert float(th.gradient_depth_scale(0.5, 0.0, "linear")) == pytest.approx(-1 / np.log(0.25))
    assert float(th.gradient_depth_scale(2.0, 0.0, "linear")) < 0  # exploding
    assert float(th.gradient_depth_scale(np.sqrt(2), 0.0, "relu")) > 1e6  # inf, up to rounding


# --------------------------------------------------------------------------- edge of chaos


SIGMA_B = np.linspace(0.0, 2.0, 9)


def test_critical_sigma_w_closed_forms():
    sigma_b = SIGMA_B
    np.testing.assert_allclose(th.critical_sigma_w(sigma_b, "relu"), np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(th.critical_sigma_w(sigma_b, "linear"), 1.0, rtol=1e-6)
    assert float(th.critical_sigma_w(0.0, "tanh")) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("activation, sigma_b, bracket", [("tanh", 0.3, (1.0, 3.0)),
                                                          ("sigmoid", 0.0, (4.0, 20.0))])
def test_critical_sigma_w_matches_scipy(activation, sigma_b, bracket):
    """The sigma_w where chi (at the fixed point) crosses 1, by scipy's brentq on the
    float64 reference chi; and chi there is 1 according to gradviz itself."""
    want = optimize.brentq(lambda w: reference_chi(w, sigma_b, activation) - 1, *bracket,
                           xtol=1e-10)
    got = float(th.critical_sigma_w(sigma_b, activation))
    assert got == pytest.approx(want, rel=1e-4)
    assert float(th.chi(got, sigma_b, activation)) == pytest.approx(1.0, abs=1e-4)


def test_critical_sigma_w_rises_with_sigma_b_for_tanh():
    line = np.asarray(th.critical_sigma_w(SIGMA_B, "tanh"))
    assert np.all(np.diff(line) > 0)


# --------------------------------------------------------------------------- profiles


def test_profiles_follow_the_variance_map_layer_by_layer():
    """variance_profile iterates variance_map from q_1 = sigma_w_in^2 mean(x^2) + sigma_b^2;
    predicted_signal_profile multiplies sqrt(chi(q_k)) from the last layer down."""
    depth, sigma_w, sigma_b, ms, sigma_w_in = 12, 1.3, 0.2, 0.7, 0.9
    q = th.variance_profile(depth, sigma_w, sigma_b, "tanh", ms, sigma_w_in)
    want_q = [sigma_w_in**2 * ms + sigma_b**2]
    for _ in range(depth - 1):
        want_q.append(float(th.variance_map(want_q[-1], sigma_w, sigma_b, "tanh")))
    np.testing.assert_allclose(q, want_q, rtol=1e-5)
    gains = [float(th.signal_gain_per_layer(sigma_w, sigma_b, "tanh", q=qk)) for qk in want_q]
    want_signal = [np.prod(gains[layer + 1:]) for layer in range(depth)]
    profile = th.predicted_signal_profile(depth, sigma_w, sigma_b, "tanh", ms, sigma_w_in)
    np.testing.assert_allclose(profile, want_signal, rtol=1e-5)
    # linear and relu: a geometric profile
    layers = np.arange(1, depth + 1)
    np.testing.assert_allclose(
        th.predicted_signal_profile(depth, 0.9, 0.1, "linear"), 0.9 ** (depth - layers), rtol=1e-5
    )
    np.testing.assert_allclose(
        th.predicted_signal_profile(depth, 1.2, 0.0, "relu"),
        (1.2 / np.sqrt(2)) ** (depth - layers), rtol=1e-5,
    )


def test_depth_and_activation_changes_do_not_recompile():
    th.predicted_signal_profile(10, 1.0, 0.1, "tanh")
    th.chi(1.0, 0.1, "tanh")
    with count_compiles() as log:
        for depth in (5, 20, 64):
            th.predicted_signal_profile(depth, 1.3, 0.2, "relu")
        th.chi(1.7, 0.3, "sigmoid")
        th.chi(2, 0, "gelu")
    assert log.count == 0


def test_fixed_point_under_vmap_equals_the_loop():
    """A small phase-diagram grid: vmap over (sigma_w, sigma_b) and one call per point agree."""
    sigma_w, sigma_b = jnp.meshgrid(jnp.array([0.5, 1.0, 1.5, 3.0]), jnp.array([0.0, 0.05, 0.5]))

    def fixed(w, b):
        return th.fixed_point_variance(w, b, "tanh")

    grid = jax.vmap(jax.vmap(fixed))(sigma_w, sigma_b)
    loop = [[float(fixed(float(w), float(b))) for w, b in zip(ws, bs, strict=True)]
            for ws, bs in zip(sigma_w, sigma_b, strict=True)]
    np.testing.assert_allclose(grid, loop, rtol=1e-5, atol=1e-12)


# --------------------------------------------------------------------------- theory vs networks

WIDTH, DEPTH, BATCH, IN_DIM = 512, 30, 256, 64
X = jax.random.normal(jax.random.PRNGKey(1), (BATCH, IN_DIM))
Y = jnp.arange(BATCH) % 10
SPAN_TOLERANCE = 0.025
FIXED_POINT_TOLERANCE = 0.02


@pytest.mark.parametrize(
    "activation, init, scale, bias_scale",
    [
        ("linear", "gaussian", 0.9, 0.0),
        ("linear", "gaussian", 1.1, 0.0),
        ("tanh", "gaussian", 0.8, 0.05),
        ("tanh", "gaussian", 1.0, 0.05),
        ("tanh", "gaussian", 1.5, 0.05),
        ("relu", "he", 1.0, 0.0),
        ("relu", "he", 1.0, 0.1),
        ("sigmoid", "gaussian", 1.0, 0.0),
        ("sigmoid", "gaussian", 4.0, 0.0),
        ("gelu", "gaussian", 1.0, 0.0),
    ],
)
def test_theory_predicts_the_measured_signal_norms(activation, init, scale, bias_scale):
    """A random MLP of width 512 and depth 30 on 256 standard-normal inputs.

    Profile: for every stretch of k >= 10 layers ending at the last one, the measured
    per-layer factor (signal_norm[l] / signal_norm[-1]) ** (1/k) is within 2.5% of
    predicted_signal_profile's. Over 10 seeds the worst stretch was off by 1.9% (relu at
    He scale; the others <= 1.6%), the whole 29-layer stretch by <= 1.0%.
    Fixed point: the factor fitted (log-linear) over layers 11..30 is within 2% of
    signal_gain_per_layer (over 10 seeds: <= 1.3%). Not for tanh at sigma_w = 1, whose
    variance is still settling at layer 30 (q_l ~ 1/(2l)): the profile covers it.
    """
    params = gv.init_mlp(jax.random.PRNGKey(0), IN_DIM, WIDTH, DEPTH, 10, init, scale, bias_scale)
    signal = gv.gradient_flow(params, X, Y, activation=activation).signal_norm
    sigma_w = gv.sigma_w(init, scale, WIDTH, WIDTH)
    sigma_w_in = gv.sigma_w(init, scale, IN_DIM, WIDTH)
    mean_square = float(jnp.mean(X**2))

    profile = th.predicted_signal_profile(
        DEPTH, sigma_w, bias_scale, activation, mean_square, sigma_w_in
    )
    span = DEPTH - np.arange(1, DEPTH + 1)
    long = span >= 10
    measured = (signal[long] / signal[-1]) ** (1 / span[long])
    predicted = profile[long] ** (1 / span[long])
    np.testing.assert_allclose(measured, predicted, rtol=SPAN_TOLERANCE)

    if not (activation == "tanh" and scale == 1.0):
        layers = np.arange(11, DEPTH + 1)
        fitted = np.exp(-np.polyfit(layers, np.log(signal[10:]), 1)[0])
        gain = float(th.signal_gain_per_layer(sigma_w, bias_scale, activation))
        assert fitted == pytest.approx(gain, rel=FIXED_POINT_TOLERANCE)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: th.chi(1.0, 0.0, "swish"), "expected one of: " + ", ".join(ACTIVATION_NAMES)),
        (lambda: th.chi(-1.0, 0.0, "tanh"), "sigma_w must be a finite number >= 0, got -1.0"),
        (lambda: th.chi(1.0, float("nan"), "tanh"), "sigma_b must be a finite number >= 0"),
        (lambda: th.chi(np.array([1.0, -2.0]), 0.0, "tanh"), r"sigma_w\[1\] must be .* got -2.0"),
        (lambda: th.chi(1.0, 0.0, "tanh", q=-1.0), "q must be a number >= 0"),
        (lambda: th.chi("big", 0.0, "tanh"), "sigma_w must be a number"),
        (lambda: th.fixed_point_variance(1.0, np.inf, "tanh"), "sigma_b must be a finite"),
        (lambda: th.fixed_point_variance(1.0, 0.0, "tanh", q0=-1), "q0 must be"),
        (lambda: th.fixed_point_variance(1.0, 0.0, "tanh", n_iter=0), "n_iter must be in"),
        (lambda: th.variance_map(-0.5, 1.0, 0.0, "tanh"), "q must be a finite number >= 0"),
        (lambda: th.predicted_signal_profile(0, 1.0, 0.0, "tanh"), r"depth must be in \[1, "),
        (lambda: th.predicted_signal_profile(2.5, 1.0, 0.0, "tanh"), "depth must be an integer"),
        (lambda: th.variance_profile(5, 1.0, 0.0, "tanh", -1.0), "input_mean_square must be"),
        (lambda: th.critical_sigma_w(-0.1, "tanh"), "sigma_b must be a finite number >= 0"),
        (lambda: th.critical_sigma_w(0.1, "cosine"), "unknown activation 'cosine'"),
        (lambda: th.gaussian_expectation(jnp.tanh, 1.0, n_points=101), "n_points must be even"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
