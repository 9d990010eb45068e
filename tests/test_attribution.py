"""gradviz.attribution against independent references: analytic integrals, unrolled
loops over points and features, scipy's rank correlation, and completeness itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import gradviz as gv
from gradviz import attribution
from gradviz.attribution import (
    input_x_gradient,
    occlusion,
    saliency,
    smoothgrad,
)
from gradviz.integrated import (
    METHODS,
    Quadrature,
    completeness_delta,
    integrated_gradients,
    path_integral,
    quadrature,
)

KEY = jax.random.PRNGKey(0)


def tanh_mlp(dtype=jnp.float32, in_dim=6, width=5):
    """A smooth nonlinear scalar function and its parameters (a tiny tanh MLP)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    params = {
        "W1": jax.random.normal(k1, (in_dim, width), dtype) / np.sqrt(in_dim),
        "b1": 0.1 * jax.random.normal(k2, (width,), dtype),
        "w2": jax.random.normal(k3, (width,), dtype),
    }

    def f(x, p=params):
        return jnp.tanh(jnp.tanh(x @ p["W1"] + p["b1"]) @ p["w2"])

    return f, params


def x_of(dtype=jnp.float32, n=6):
    return jnp.linspace(-1.0, 1.5, n, dtype=dtype)


# --------------------------------------------------------------------------- quadrature


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_steps", [2, 3, 7, 16, 64])
def test_weights_of_every_rule_sum_to_one_and_nodes_lie_in_0_1(method, n_steps):
    alphas, weights = quadrature(method, n_steps)
    assert alphas.shape == weights.shape == (n_steps,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.all((alphas >= 0) & (alphas <= 1)) and np.all(weights > 0)


@pytest.mark.parametrize("method", METHODS)
def test_rules_integrate_what_they_should_exactly(method):
    n = 8
    alphas, weights = quadrature(method, n)
    # every rule integrates constants and (except left/right) straight lines exactly
    assert weights @ np.ones(n) == pytest.approx(1.0)
    if method != "left" and method != "right":
        assert weights @ alphas == pytest.approx(0.5, abs=1e-14)
    # Gauss-Legendre with n points is exact up to degree 2n - 1
    if method == "gauss-legendre":
        assert weights @ alphas ** 15 == pytest.approx(1 / 16, abs=1e-14)
    # the Riemann nodes, spelled out
    expected = {"left": np.arange(n) / n, "right": np.arange(1, n + 1) / n,
                "middle": (np.arange(n) + 0.5) / n, "trapezoid": np.linspace(0, 1, n)}
    if method in expected:
        np.testing.assert_allclose(alphas, expected[method])


def test_a_trapezoid_rule_whose_weights_do_not_sum_to_one_misses_completeness():
    """The 1/n weights with halved ends sum to (n - 1)/n: IG of a linear f then misses
    f(x) - f(x') by exactly that fraction. gradviz's trapezoid does not."""
    n = 20
    wrong = np.full(n, 1 / n)
    wrong[[0, -1]] /= 2
    rule = attribution.Quadrature(np.linspace(0, 1, n), wrong)
    w = jnp.arange(1.0, 7.0)
    f = lambda x: x @ w  # noqa: E731
    x = x_of()
    bad = attribution.integrated_gradients_with_rule(f, x, None, rule)
    assert float(bad.sum() / f(x)) == pytest.approx((n - 1) / n, rel=1e-5)
    good = integrated_gradients(f, x, n_steps=n, method="trapezoid")
    assert float(completeness_delta(f, good, x)) == pytest.approx(0.0, abs=1e-5)


# --------------------------------------------------------------------------- completeness


def test_gauss_legendre_16_steps_is_complete_to_1e_8_in_float64():
    with jax.enable_x64(True):
        f, _ = tanh_mlp(jnp.float64)
        x = x_of(jnp.float64)
        baseline = -0.3 * jnp.ones(6)
        ig = integrated_gradients(f, x, baseline, n_steps=16, method="gauss-legendre")
        assert ig.dtype == jnp.float64
        delta = completeness_delta(f, ig, x, baseline)
        assert abs(float(delta)) < 1e-8
        assert abs(float(jnp.sum(ig) - (f(x) - f(baseline)))) < 1e-8  # spelled out
        assert abs(float(f(x) - f(baseline))) > 0.1  # not trivially small


def test_middle_rule_error_falls_about_4x_per_doubling():
    with jax.enable_x64(True):
        f, _ = tanh_mlp(jnp.float64)
        x = x_of(jnp.float64)
        errors = [abs(float(completeness_delta(
            f, integrated_gradients(f, x, n_steps=n, method="middle"), x)))
            for n in (8, 16, 32, 64)]
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        np.testing.assert_allclose(ratios, 4.0, rtol=0.1)
        # and the left rule's error only halves: first order
        left = [abs(float(completeness_delta(
            f, integrated_gradients(f, x, n_steps=n, method="left"), x))) for n in (16, 32)]
        assert left[0] / left[1] == pytest.approx(2.0, rel=0.1)


def test_every_rule_converges_to_the_same_attributions():
    with jax.enable_x64(True):
        f, _ = tanh_mlp(jnp.float64)
        x = x_of(jnp.float64)
        reference = integrated_gradients(f, x, n_steps=64)
        for method in METHODS:
            ig = integrated_gradients(f, x, n_steps=1024, method=method)
            np.testing.assert_allclose(ig, reference, atol=5e-3 if method in ("left", "right")
                                       else 1e-6)


def test_ig_is_the_path_integral_unrolled():
    """Independent reference: a Python loop over the points, each with its own grad."""
    f, _ = tanh_mlp()
    x, baseline = x_of(), 0.2 * jnp.ones(6)
    for method in ("gauss-legendre", "trapezoid"):
        alphas, weights = quadrature(method, 5)
        total = np.zeros(6)
        for a, w in zip(alphas, weights, strict=True):
            total += w * np.asarray(jax.grad(f)(baseline + a * (x - baseline)))
        np.testing.assert_allclose(integrated_gradients(f, x, baseline, 5, method),
                                   (x - baseline) * total, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- axioms


@pytest.mark.parametrize("method", METHODS)
def test_linear_f_gets_x_minus_baseline_times_w_for_every_method(method):
    w = jnp.array([1.5, -2.0, 0.0, 0.5, 3.0, -1.0])
    f = lambda x: x @ w + 0.7  # noqa: E731
    x, baseline = x_of(), jnp.array([0.1, 0.2, -0.3, 0.0, 1.0, 2.0])
    ig = integrated_gradients(f, x, baseline, n_steps=3, method=method)
    np.testing.assert_allclose(ig, (x - baseline) * w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(integrated_gradients(f, x, n_steps=3, method=method),
                               input_x_gradient(f, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(input_x_gradient(f, x), x * w, rtol=1e-6)


def test_a_feature_at_its_baseline_and_an_unused_feature_get_zero():
    f0, _ = tanh_mlp()

    def f(x):  # feature 5 is ignored
        return f0(x.at[5].set(0.0))

    x = x_of()
    baseline = jnp.zeros(6).at[2].set(x[2])  # feature 2 equals its baseline
    for method in METHODS:
        ig = integrated_gradients(f, x, baseline, 8, method)
        assert float(ig[2]) == 0.0 and float(ig[5]) == 0.0
        assert np.all(np.abs(np.delete(np.asarray(ig), [2, 5])) > 0)
    assert float(saliency(f, x)[5]) == 0.0
    assert float(smoothgrad(f, x, KEY)[5]) == 0.0
    assert float(occlusion(f, x, baseline)[2]) == 0.0
    assert float(occlusion(f, x, baseline)[5]) == 0.0


def test_permuting_hidden_units_leaves_every_attribution_unchanged():
    f, p = tanh_mlp()
    perm = jnp.array([3, 0, 4, 1, 2])
    permuted = {"W1": p["W1"][:, perm], "b1": p["b1"][perm], "w2": p["w2"][perm]}
    g = lambda x: f(x, permuted)  # noqa: E731
    x = x_of()
    assert float(f(x)) == pytest.approx(float(g(x)), abs=1e-6)  # the same function
    for method in (saliency, input_x_gradient, integrated_gradients, occlusion):
        np.testing.assert_allclose(method(f, x), method(g, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(smoothgrad(f, x, KEY), smoothgrad(g, x, KEY), rtol=1e-5,
                               atol=1e-7)


def test_permuting_hidden_units_of_a_gradviz_mlp():
    params = gv.init_mlp(KEY, 64, 16, 2, 10, init="he")
    perm = jax.random.permutation(jax.random.PRNGKey(7), 16)
    permuted = dict(params, W_in=params["W_in"][:, perm], b_in=params["b_in"][perm],
                    W=params["W"][:, perm][:, :, perm], b=params["b"][:, perm],
                    W_out=params["W_out"][perm])
    x = gv.data.digits(3).x[2]
    logit, permuted_logit = (attribution.class_logit(p, 3, "relu") for p in (params, permuted))
    np.testing.assert_allclose(integrated_gradients(logit, x, n_steps=8),
                               integrated_gradients(permuted_logit, x, n_steps=8),
                               rtol=1e-4, atol=1e-6)


def test_class_logit_is_the_mlp_logit():
    params = gv.init_mlp(KEY, 64, 16, 3, 10, init="xavier", bias_scale=0.5)
    x = gv.data.digits(4).x
    for activation in ("relu", "sigmoid"):
        logits = gv.apply_mlp(params, x, activation)
        for target in (0, 7):
            f = attribution.class_logit(params, target, activation)
            np.testing.assert_allclose(jax.vmap(f)(x), logits[:, target], rtol=1e-5, atol=1e-6)
    traced = jax.jit(lambda t: attribution.class_logit(params, t, "relu")(x[0]))
    assert float(traced(7)) == pytest.approx(float(gv.apply_mlp(params, x[:1], "relu")[0, 7]),
                                             rel=1e-5)


# --------------------------------------------------------------------------- the others


def test_saliency_is_the_absolute_gradient_and_input_x_gradient_multiplies_by_x():
    f, _ = tanh_mlp()
    x = x_of()
    grad = jax.grad(f)(x)
    np.testing.assert_array_equal(saliency(f, x), jnp.abs(grad))
    np.testing.assert_array_equal(input_x_gradient(f, x), x * grad)
    # and jax.grad agrees with central finite differences
    eps = 1e-3
    fd = [(f(x.at[i].add(eps)) - f(x.at[i].add(-eps))) / (2 * eps) for i in range(6)]
    np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=1e-3)


def test_attributions_keep_x_shape_for_images():
    w = jax.random.normal(KEY, (8, 8))
    f = lambda img: jnp.sum(jnp.tanh(img * w))  # noqa: E731
    img = jax.random.normal(jax.random.PRNGKey(1), (8, 8))
    for method in (saliency, input_x_gradient, integrated_gradients, occlusion):
        assert method(f, img).shape == (8, 8)
    assert smoothgrad(f, img, KEY).shape == (8, 8)
    np.testing.assert_allclose(jnp.sum(integrated_gradients(f, img)), f(img) - f(0 * img),
                               rtol=1e-4)


def test_smoothgrad_is_deterministic_and_the_mean_of_noisy_gradients():
    f, _ = tanh_mlp()
    x = x_of()
    a = smoothgrad(f, x, KEY, n_samples=10, noise=0.2)
    np.testing.assert_array_equal(a, smoothgrad(f, x, KEY, n_samples=10, noise=0.2))
    assert not np.allclose(a, smoothgrad(f, x, jax.random.PRNGKey(1), n_samples=10, noise=0.2))
    sigma = 0.2 * (float(x.max()) - float(x.min()))
    eps = np.asarray(jax.random.normal(KEY, (10, 6))) * sigma
    loop = np.mean([np.asarray(jax.grad(f)(x + e)) for e in eps], axis=0)
    np.testing.assert_allclose(a, loop, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(smoothgrad(f, x, KEY, noise=0.0), jax.grad(f)(x), rtol=1e-5,
                               atol=1e-7)


def test_occlusion_against_a_loop_over_windows():
    f = lambda img: jnp.tanh(jnp.sum(img[:3, :3]) - img[2, 3] ** 2)  # noqa: E731
    img = jax.random.normal(KEY, (4, 5))
    baseline = jnp.full((4, 5), 0.5)
    got = occlusion(f, img, baseline, window=(2, 2))
    total, count = np.zeros((4, 5)), np.zeros((4, 5))
    for i in range(3):
        for j in range(4):
            covered = img.at[i:i + 2, j:j + 2].set(0.5)
            total[i:i + 2, j:j + 2] += float(f(img) - f(covered))
            count[i:i + 2, j:j + 2] += 1
    np.testing.assert_allclose(got, total / count, rtol=1e-5, atol=1e-6)
    # one feature at a time, on a linear f, occlusion is (x - baseline) * w, like IG
    w = jnp.arange(6.0)
    x = x_of()
    np.testing.assert_allclose(occlusion(lambda v: v @ w, x), x * w, rtol=1e-5, atol=1e-5)


def test_rank_correlation_matches_scipy_with_ties():
    a = jnp.array([0.0, 0.0, 1.0, 3.0, 2.0, 2.0, -1.0, 5.0])
    b = jnp.array([1.0, 2.0, 0.0, 3.0, 3.0, 1.0, -2.0, 4.0])
    want = scipy.stats.spearmanr(a, b).statistic
    assert float(attribution.rank_correlation(a, b)) == pytest.approx(want, rel=1e-6)
    assert float(attribution.rank_correlation(a, 2 * a + 1)) == pytest.approx(1.0)
    assert float(attribution.rank_correlation(a, -a)) == pytest.approx(-1.0)
    maps = jax.random.normal(KEY, (3, 2, 8, 8))
    batched = jax.vmap(attribution.rank_correlation)(maps[:, 0], maps[:, 1])
    for i in range(3):
        want = scipy.stats.spearmanr(np.ravel(maps[i, 0]), np.ravel(maps[i, 1])).statistic
        assert float(batched[i]) == pytest.approx(want, rel=1e-5)


def test_gaussian_blur():
    image = jax.random.normal(KEY, (8, 8))
    blurred = attribution.gaussian_blur(image, 1.0)
    # the formula, spelled out with a double loop over pixels
    weight = lambda d: np.exp(-d ** 2 / 2.0)  # noqa: E731
    i, j = 3, 0
    num = sum(weight(i - a) * weight(j - b) * float(image[a, b])
              for a in range(8) for b in range(8))
    den = sum(weight(i - a) for a in range(8)) * sum(weight(j - b) for b in range(8))
    assert float(blurred[i, j]) == pytest.approx(num / den, rel=1e-5)
    np.testing.assert_allclose(attribution.gaussian_blur(jnp.full((8, 8), 2.0), 3.0), 2.0,
                               rtol=1e-6)
    np.testing.assert_allclose(attribution.gaussian_blur(image, 0.05), image, atol=1e-6)
    assert float(blurred.std()) < float(image.std())


def test_active_fraction_counts_dead_units_like_gradient_flow():
    data = gv.data.digits(200)
    params = gv.init_mlp(KEY, 64, 32, 4, 10, init="he", bias_scale=1.0)
    active = attribution.active_fraction(params, data.x, "relu")
    assert active.shape == (4, 32)
    # an unrolled forward pass
    h, fractions = data.x, []
    weights = [params["W_in"], *params["W"]]
    biases = [params["b_in"], *params["b"]]
    for W, b in zip(weights, biases, strict=True):
        z = h @ W + b
        fractions.append(np.mean(np.asarray(z) > 0, axis=0))  # relu'(z) = 1 where z > 0
        h = jax.nn.relu(z)
    np.testing.assert_allclose(active, np.array(fractions), atol=1e-6)
    flow = gv.gradient_flow(params, data.x, data.y, "relu")
    np.testing.assert_allclose(np.mean(np.asarray(active) == 0, axis=1), flow.dead_fraction)
    sig = attribution.active_fraction(params, data.x, "sigmoid", threshold=0.2)
    assert float(sig.max()) <= 1.0 and float(sig.min()) >= 0.0


# --------------------------------------------------------------------------- batching


def test_vmapped_results_equal_a_loop():
    f, _ = tanh_mlp()
    xs = jax.random.normal(KEY, (4, 6))
    baselines = jax.random.normal(jax.random.PRNGKey(1), (4, 6))
    keys = jax.random.split(KEY, 4)
    calls = {
        "saliency": (lambda x, b, k: saliency(f, x)),
        "input_x_gradient": (lambda x, b, k: input_x_gradient(f, x)),
        "integrated_gradients": (lambda x, b, k: integrated_gradients(f, x, b, 8, "middle")),
        "smoothgrad": (lambda x, b, k: smoothgrad(f, x, k, n_samples=5)),
        "occlusion": (lambda x, b, k: occlusion(f, x, b)),
        "completeness_delta": (lambda x, b, k: completeness_delta(f, 0.1 * x, x, b)),
    }
    for name, call in calls.items():
        batched = jax.vmap(call)(xs, baselines, keys)
        loop = jnp.stack([call(xs[i], baselines[i], keys[i]) for i in range(4)])
        np.testing.assert_allclose(batched, loop, rtol=1e-5, atol=1e-6, err_msg=name)
    jitted = jax.jit(lambda x: integrated_gradients(f, x, n_steps=8))
    np.testing.assert_allclose(jitted(xs[0]), integrated_gradients(f, xs[0], n_steps=8),
                               rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- bad input

f_ok, _ = tanh_mlp()
X = x_of()

BAD = [
    ("unknown method", lambda: integrated_gradients(f_ok, X, method="simpson"),
     "unknown integration method 'simpson'; expected one of: gauss-legendre, left, middle, "
     "right, trapezoid"),
    ("n_steps 0", lambda: integrated_gradients(f_ok, X, n_steps=0),
     r"n_steps must be in \[1, 10000\], got 0"),
    ("n_steps not an integer", lambda: integrated_gradients(f_ok, X, n_steps=2.5),
     "n_steps must be an integer"),
    ("trapezoid with one point", lambda: integrated_gradients(f_ok, X, n_steps=1,
                                                              method="trapezoid"),
     r"the trapezoid rule needs n_steps >= 2"),
    ("baseline of the wrong shape", lambda: integrated_gradients(f_ok, X, jnp.zeros(5)),
     r"baseline must have x's shape \(6,\), got shape \(5,\)"),
    ("non-scalar f", lambda: saliency(lambda x: x * 2, X),
     r"f must return a scalar \(one number, e.g. the logit of one class"),
    ("f not callable", lambda: saliency(3.0, X), "f must be a function"),
    ("integer input", lambda: saliency(f_ok, jnp.arange(6)),
     "x must hold floating-point numbers, got dtype int32"),
    ("NaN input", lambda: integrated_gradients(f_ok, X.at[0].set(jnp.nan)),
     "x contains NaN or inf"),
    ("no key for smoothgrad", lambda: smoothgrad(f_ok, X, 0),
     r"key must be a JAX random key such as jax.random.PRNGKey\(0\)"),
    ("negative noise", lambda: smoothgrad(f_ok, X, KEY, noise=-0.1),
     "noise must be a finite number >= 0"),
    ("attributions of the wrong shape", lambda: completeness_delta(f_ok, jnp.zeros(3), X),
     r"attributions must have x's shape \(6,\)"),
    ("occlusion window too large", lambda: occlusion(f_ok, X, window=(7,)),
     r"window size on axis 0 must be in \[1, 6\], got 7"),
    ("rank correlation of different shapes",
     lambda: attribution.rank_correlation(jnp.zeros(3), jnp.zeros(4)),
     "rank_correlation needs two maps of the same shape"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[row[0] for row in BAD])
def test_bad_input_gets_a_clear_error(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- exercises


def test_chapter_5_exercises_measure_their_answers():
    from gradviz import exercises
    from gradviz.exercises import ch5

    ratio = ch5._ch5_unscaled_gauss_ratio()
    assert ratio == pytest.approx(2.0, rel=1e-5)  # leggauss's weights sum to 2, not 1
    assert exercises.check("ch5_unscaled_gauss", 2).correct
    assert exercises.check("ch5_unscaled_gauss", 2.02).correct
    assert not exercises.check("ch5_unscaled_gauss", 1).correct  # the halved weights' answer
    assert not exercises.check("ch5_unscaled_gauss", 0.5).correct

    left = ch5._ch5_left_steps()
    target = ch5._ch5_error("middle", 8)
    assert ch5._ch5_error("left", left) <= target < ch5._ch5_error("left", int(left / 1.05))
    assert 500 < left < 10_000  # first order against second: far more than 8 steps
    assert exercises.check("ch5_left_steps", left).correct
    assert exercises.check("ch5_left_steps", round(left, -3)).correct  # "about" is enough
    assert not exercises.check("ch5_left_steps", 16).correct  # the midpoint rule's habit
    assert not exercises.check("ch5_left_steps", 64).correct  # 8^2: the rule of thumb, wrongly
    assert str(left) not in exercises.check("ch5_left_steps", 16).message

    steps = ch5._ch5_gauss_steps()
    assert 2 <= steps <= 32
    assert ch5._ch5_error("gauss-legendre", steps) < 1e-6
    assert ch5._ch5_error("gauss-legendre", steps - 1) >= 1e-6
    assert exercises.check("ch5_gauss_steps", steps).correct
    assert not exercises.check("ch5_gauss_steps", steps - 1).correct  # not yet below 1e-6
    assert not exercises.check("ch5_gauss_steps", 60).correct  # far more than needed
    wrong = exercises.check("ch5_gauss_steps", 1)
    assert "Hint" in wrong.message and str(steps) not in wrong.message.split("Hint")[0]
    assert exercises.check("ch5_gauss_steps", "many").message.startswith("Could not read")


def test_convergence_tabulates_each_rule_and_step_count():
    with jax.enable_x64(True):
        f, _ = tanh_mlp(jnp.float64)
        x = x_of(jnp.float64)
        baseline = 0.1 * jnp.ones(6)
        table = attribution.convergence(f, x, baseline, max_steps=6)
        assert table.attributions.shape == (5, 6, 6) and table.delta.shape == (5, 6)
        for i, method in enumerate(table.methods):
            for n in (2, 5):
                ig = integrated_gradients(f, x, baseline, n, method)
                np.testing.assert_allclose(table.attributions[i, n - 1], ig, rtol=1e-12,
                                           atol=1e-14)
                assert float(table.delta[i, n - 1]) == pytest.approx(
                    float(completeness_delta(f, ig, x, baseline)), abs=1e-13)
        trapezoid = table.methods.index("trapezoid")
        assert np.isnan(table.delta[trapezoid, 0]) and not np.isnan(table.delta[trapezoid, 1])


def test_attribution_maps_equal_the_functions_one_by_one():
    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    x = gv.data.digits(3).x
    target = jnp.array([1, 5, 9])
    baseline = -0.5 * jnp.ones(64)
    maps = attribution.attribution_maps(params, x, target, KEY, "tanh", baseline, n_steps=8,
                                        n_samples=4, noise=0.1)
    np.testing.assert_allclose(attribution.class_logits(params, x, "tanh"),
                               gv.apply_mlp(params, x, "tanh"), rtol=1e-5, atol=1e-6)
    keys = jax.random.split(KEY, 3)
    for i in range(3):
        f = attribution.class_logit(params, int(target[i]), "tanh")
        ig = integrated_gradients(f, x[i], baseline, 8)
        want = [saliency(f, x[i]), input_x_gradient(f, x[i]), ig,
                smoothgrad(f, x[i], keys[i], 4, 0.1), f(x[i]),
                completeness_delta(f, ig, x[i], baseline)]
        for got, expected in zip(maps, want, strict=True):
            np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        attribution.attribution_maps(params, x, jnp.array([1, 2]), KEY)


def test_attribution_maps_float64_equal_the_float32_maps_and_resolve_tiny_differences():
    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    x = gv.data.digits(3).x
    target = jnp.array([1, 5, 9])
    per_example = jnp.stack([-0.5 * jnp.ones(64), jnp.zeros(64), 0.3 * jnp.ones(64)])
    m32 = attribution.attribution_maps(params, x, target, KEY, "tanh", per_example, n_steps=8)
    m64 = attribution.attribution_maps_float64(params, x, target, KEY, "tanh", per_example,
                                               n_steps=8)
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in m64)
    for name in ("saliency", "input_x_gradient", "integrated_gradients", "logit"):
        np.testing.assert_allclose(getattr(m64, name), getattr(m32, name), rtol=1e-4,
                                   atol=1e-5)
    # completeness to float64 rounding, relative to f(x) - f(x'), even when that is ~1e-6
    tiny = jax.tree.map(lambda a: 1e-6 * a, params)
    m = attribution.attribution_maps_float64(tiny, x, target, KEY, "tanh", n_steps=32)
    difference = m.integrated_gradients.sum(axis=1) - m.completeness_delta
    assert np.all(np.abs(m.completeness_delta) < 1e-9 * np.abs(difference))


def test_logit_convergence_is_convergence_in_float64_with_the_difference():
    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    x = gv.data.digits(1).x[0]
    result = attribution.logit_convergence(params, x, 3, "tanh", max_steps=8)
    assert result.table.delta.dtype == np.float64 and result.table.delta.shape == (5, 8)
    f = attribution.class_logit(params, 3, "tanh")
    assert result.difference == pytest.approx(float(f(x) - f(0 * x)), rel=1e-5)
    gl = result.table.methods.index("gauss-legendre")
    ig = integrated_gradients(f, x, n_steps=8)
    np.testing.assert_allclose(result.table.attributions[gl, 7], ig, rtol=1e-4, atol=1e-6)


def test_input_x_gradient_is_complete_for_a_bias_free_relu_network():
    # positively homogeneous of degree 1: x . df/dx = f(x) and f(0) = 0 (Euler)
    params = gv.init_mlp(KEY, 64, 32, 3, 10, init="he")
    params = {k: (jax.tree.map(jnp.zeros_like, v) if k.startswith("b") else v)
              for k, v in params.items()}
    x = gv.data.digits(1).x[0]
    f = attribution.class_logit(params, 2, "relu")
    assert float(input_x_gradient(f, x).sum()) == pytest.approx(float(f(x) - f(0 * x)),
                                                                rel=1e-5, abs=1e-6)


def test_path_integral_of_a_linear_function_is_exact_for_any_rule_summing_to_one():
    w = jnp.array([0.5, -2.0, 3.0])
    x, base = jnp.array([1.0, 2.0, -1.0]), jnp.array([0.5, 0.0, 0.0])
    rule = Quadrature(np.array([0.1, 0.7, 0.9]), np.array([0.2, 0.5, 0.3]))
    np.testing.assert_allclose(path_integral(lambda v: v @ w, x, base, rule), (x - base) * w,
                               rtol=1e-6)
