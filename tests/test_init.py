import jax
import numpy as np
import pytest

from gradviz.init import INIT_SCHEMES, init_index, init_weight, sigma_w, weight_from_normal

KEY = jax.random.PRNGKey(1)


@pytest.mark.parametrize(
    "scheme, fan_in, fan_out, expected_std",
    [
        ("gaussian", 400, 300, 1.5 / 400**0.5),
        ("xavier", 400, 300, 1.5 * (2 / 700) ** 0.5),
        ("he", 400, 300, 1.5 * (2 / 400) ** 0.5),
        ("orthogonal", 400, 400, 1.5 / 400**0.5),
    ],
)
def test_weight_std_follows_the_scheme(scheme, fan_in, fan_out, expected_std):
    w = np.asarray(init_weight(KEY, fan_in, fan_out, scheme, scale=1.5))
    assert w.shape == (fan_in, fan_out)
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert w.mean() == pytest.approx(0.0, abs=0.05 * expected_std)
    # sigma_w is defined by fan_in * Var(W_ij) = sigma_w^2
    assert sigma_w(scheme, 1.5, fan_in, fan_out) == pytest.approx(
        (fan_in * w.var()) ** 0.5, rel=0.02
    )


@pytest.mark.parametrize("shape", [(64, 64), (96, 32), (32, 96)])
def test_orthogonal_has_orthonormal_columns_or_rows(shape):
    w = np.asarray(init_weight(KEY, *shape, scheme="orthogonal", scale=2.0), dtype=np.float64)
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False), 2.0, rtol=1e-4)


def test_same_key_same_draw_across_gaussian_schemes():
    a = init_weight(KEY, 50, 50, "gaussian", 1.0)
    b = init_weight(KEY, 50, 50, "he", 1.0)
    np.testing.assert_allclose(b, 2**0.5 * a, rtol=1e-5)


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_weight_from_normal_is_init_weight_of_the_same_draw(scheme):
    z = jax.random.normal(KEY, (40, 24))
    expected = init_weight(KEY, 40, 24, scheme, scale=0.7)
    np.testing.assert_allclose(weight_from_normal(z, init_index(scheme), 0.7), expected,
                               rtol=1e-6, atol=1e-7)
    # traced scheme and gain: one compiled function for every scheme
    traced = jax.jit(weight_from_normal)(z, init_index(scheme), 0.7)
    np.testing.assert_allclose(traced, expected, rtol=1e-5, atol=1e-6)


def test_bad_init_inputs():
    with pytest.raises(ValueError, match="expected one of: " + ", ".join(INIT_SCHEMES)):
        init_weight(KEY, 3, 3, "kaiming")
    with pytest.raises(ValueError, match="init scale"):
        init_weight(KEY, 3, 3, "he", scale=-1.0)
