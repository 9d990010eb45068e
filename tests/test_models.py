import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from reference import mlp_hidden, mlp_loss, rnn_hidden

import gradviz as gv
from gradviz.losses import loss_value

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(jax.random.PRNGKey(1), (16, 5))
Y = jnp.arange(16) % 3


def make_mlp(depth, **kw):
    return gv.init_mlp(KEY, 5, 8, depth, 3, **kw)


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu", "gelu"])
@pytest.mark.parametrize("depth", [1, 2, 7])
@pytest.mark.parametrize("residual, norm", [(False, "none"), (True, "none"), (False, "batch"),
                                            (True, "layer")])
def test_scanned_mlp_equals_unrolled_loop(activation, depth, residual, norm):
    params = make_mlp(depth, init="he", bias_scale=0.1)
    got = gv.apply_mlp(params, X, activation, residual=residual, norm=norm)
    h = mlp_hidden(params, X, activation, depth, residual, norm)[-1]
    np.testing.assert_allclose(got, h @ params["W_out"] + params["b_out"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 3, 9])
def test_masked_depth_equals_a_network_of_that_depth(depth):
    deep = make_mlp(12, init="xavier")
    shallow = make_mlp(depth, init="xavier")
    np.testing.assert_array_equal(deep["W"][: depth - 1], shallow["W"])
    np.testing.assert_allclose(
        gv.apply_mlp(deep, X, "tanh", depth=depth), gv.apply_mlp(shallow, X, "tanh"), rtol=1e-6
    )


def test_masked_out_layers_get_exactly_zero_gradient():
    params = make_mlp(10, init="he", bias_scale=0.5)

    def loss(p):
        return loss_value(gv.apply_mlp(p, X, "relu", depth=4), Y, "cross_entropy")

    grads = jax.grad(loss)(params)
    assert np.all(np.asarray(grads["W"][3:]) == 0.0)
    assert np.all(np.asarray(grads["b"][3:]) == 0.0)
    assert np.all(np.abs(np.asarray(grads["W"][:3])).sum(axis=(1, 2)) > 0)


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_rnn_equals_step_by_step_loop(cell):
    params = gv.init_rnn(KEY, 3, 6, 2, cell=cell, recurrent_scale=0.9, update_gate_bias=1.0)
    xs = jax.random.normal(KEY, (4, 7, 3))
    h = rnn_hidden(params, xs)[-1]
    np.testing.assert_allclose(
        gv.apply_rnn(params, xs), h @ params["W_out"] + params["b_out"], rtol=1e-5, atol=1e-6
    )
    # a shorter `length` equals cutting the sequence
    np.testing.assert_allclose(
        gv.apply_rnn(params, xs, length=4), gv.apply_rnn(params, xs[:, :4]), rtol=1e-6
    )


def test_gru_update_gate_bias_sets_the_gate():
    params = gv.init_rnn(KEY, 3, 6, 2, cell="gru", update_gate_bias=3.0)
    np.testing.assert_array_equal(params["b_z"], 3.0)
    assert set(params) == {"W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xn", "W_hn", "b_n",
                           "W_out", "b_out"}


def test_recurrent_scale_sets_spectral_radius():
    params = gv.init_rnn(KEY, 3, 400, 1, recurrent_scale=0.7)
    radius = np.abs(np.linalg.eigvals(np.asarray(params["W_h"], np.float64))).max()
    assert radius == pytest.approx(0.7, rel=0.05)


@pytest.mark.parametrize("family", ["mlp", "residual", "batchnorm", "layernorm", "vanilla", "gru"])
def test_gradients_pass_check_grads_in_float64(family):
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(3)
        if family in ("vanilla", "gru"):
            params = gv.init_rnn(key, 2, 4, 2, cell=family, update_gate_bias=0.5)
            params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
            xs = jax.random.normal(key, (3, 5, 2), jnp.float64)

            def f(p):
                return jnp.sum(gv.apply_rnn(p, xs) ** 2)
        else:
            params = gv.init_mlp(key, 3, 4, 3, 2, init="xavier", bias_scale=0.2)
            params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
            x = jax.random.normal(key, (6, 3), jnp.float64)
            opts = {"mlp": {}, "residual": {"residual": True}, "batchnorm": {"norm": "batch"},
                    "layernorm": {"norm": "layer", "residual": True}}[family]

            def f(p):
                return jnp.sum(jnp.sin(gv.apply_mlp(p, x, "tanh", **opts)))

        check_grads(f, (params,), order=2, modes=["rev"], eps=1e-4)


def test_mlp_reference_loss_matches_gradviz_loss():
    params = make_mlp(4, init="he")
    ours = loss_value(gv.apply_mlp(params, X, "relu"), Y, "cross_entropy")
    assert float(ours) == pytest.approx(float(mlp_loss(params, X, Y, "relu", 4)), rel=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: gv.init_mlp(KEY, 5, 8, 0, 3), "depth must be in"),
        (lambda: gv.init_mlp(KEY, 5, 8, 10_000, 3), "depth must be in"),
        (lambda: gv.init_mlp(KEY, 5, 0, 3, 3), "width must be in"),
        (lambda: gv.init_mlp(KEY, 5, 8, 2.5, 3), "depth must be an integer"),
        (lambda: gv.init_mlp(KEY, 5, 8, 3, 3, init="lecun"), "unknown init scheme 'lecun'"),
        (lambda: gv.apply_mlp(make_mlp(3), X[:, :4]), r"x must have last dimension 5"),
        (lambda: gv.apply_mlp(make_mlp(3), X[0]), r"x must have 2 dimensions"),
        (lambda: gv.apply_mlp(make_mlp(3), X, norm="group"), "unknown norm 'group'"),
        (lambda: gv.apply_mlp(make_mlp(3), X, "swish"), "unknown activation 'swish'"),
        (lambda: gv.apply_mlp(make_mlp(3), X, depth=4), r"depth must be in \[1, 3\]"),
        (lambda: gv.init_rnn(KEY, 3, 4, 1, cell="lstm"), "unknown RNN cell 'lstm'"),
        (lambda: gv.apply_rnn(gv.init_rnn(KEY, 3, 4, 1), jnp.ones((2, 5, 2))),
         "xs must have last dimension 3"),
        (lambda: gv.apply_rnn(gv.init_rnn(KEY, 3, 4, 1), jnp.ones((2, 5, 3)), length=6),
         r"length must be in \[1, 5\]"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- residual branch scale


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_branch_scale_multiplies_each_residual_branch(norm):
    params = make_mlp(6, init="xavier", bias_scale=0.1)
    a = 0.3

    def normalized(z):  # layer norm over the units, or nothing
        if norm == "none":
            return z
        return (z - z.mean(1, keepdims=True)) / jnp.sqrt(z.var(1, keepdims=True) + 1e-5)

    h = jnp.tanh(normalized(X @ params["W_in"] + params["b_in"]))
    for W, b in zip(params["W"], params["b"], strict=True):  # written out: h + a * phi(N(z))
        h = h + a * jnp.tanh(normalized(h @ W + b))
    got = gv.apply_mlp(params, X, "tanh", residual=True, norm=norm, branch_scale=a)
    np.testing.assert_allclose(got, h @ params["W_out"] + params["b_out"], rtol=1e-5, atol=1e-5)
    # the default scale 1 is the plain residual net, and the flow sees the same network
    np.testing.assert_allclose(gv.apply_mlp(params, X, "tanh", residual=True, norm=norm),
                               gv.apply_mlp(params, X, "tanh", residual=True, norm=norm,
                                            branch_scale=1.0))
    flow = gv.gradient_flow(params, X, Y, "tanh", residual=True, norm=norm, branch_scale=a)
    np.testing.assert_allclose(flow.act_std[-1], float(jnp.std(h)), rtol=1e-5)


def test_branch_scale_is_traced_and_checked():
    from gradviz.compiles import count_compiles

    params = make_mlp(5)
    gv.gradient_flow(params, X, Y, residual=True, branch_scale=0.5)  # warm-up
    with count_compiles() as log:
        small = gv.gradient_flow(params, X, Y, residual=True, branch_scale=0.1)
        plain = gv.gradient_flow(params, X, Y, residual=False)
    assert log.count == 0
    assert small.act_std[-1] != plain.act_std[-1]
    with pytest.raises(ValueError, match="branch_scale must be a finite number > 0"):
        gv.apply_mlp(params, X, residual=True, branch_scale=0.0)
    with pytest.raises(ValueError, match="needs residual=True"):
        gv.apply_mlp(params, X, residual=False, branch_scale=0.5)


def test_gru_update_gates_match_the_step_by_step_gates():
    params = gv.init_rnn(KEY, 3, 6, 2, cell="gru", recurrent_scale=0.9, update_gate_bias=1.0)
    xs = jax.random.normal(KEY, (4, 7, 3))
    states = rnn_hidden(params, xs)  # (time, batch, hidden)
    previous = jnp.concatenate([jnp.zeros_like(states[:1]), states[:-1]])
    want = jax.nn.sigmoid(jnp.einsum("bti,ih->tbh", xs, params["W_xz"])
                          + previous @ params["W_hz"] + params["b_z"])
    got = gv.rnn.gru_update_gates(params, xs)
    assert got.shape == (4, 7, 6)
    np.testing.assert_allclose(got, jnp.swapaxes(want, 0, 1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs GRU parameters"):
        gv.rnn.gru_update_gates(gv.init_rnn(KEY, 3, 6, 2), xs)


# --------------------------------------------------------------------------- public building blocks


@pytest.mark.parametrize("residual, norm", [(False, "none"), (True, "batch"), (False, "layer")])
def test_mlp_forward_is_first_layer_then_a_loop_of_hidden_layers(residual, norm):
    from gradviz.activations import get_activation
    from gradviz.models import first_layer, hidden_layer, mlp_forward, mlp_readout

    params, phi = make_mlp(5, init="he", bias_scale=0.1), get_activation("tanh")
    h, _ = first_layer(X, params["W_in"], params["b_in"], phi=phi, norm=norm)
    inputs = []
    for W, b in zip(params["W"], params["b"], strict=True):
        inputs.append(h)
        h, _ = hidden_layer(h, W, b, phi=phi, norm=norm, residual=float(residual))
    got, got_inputs, stats = mlp_forward(params, X, phi=phi, residual=float(residual), norm=norm,
                                         depth=5)
    np.testing.assert_allclose(got, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_inputs, jnp.stack(inputs), rtol=1e-6, atol=1e-6)
    assert stats["act_std"].shape == (5,)
    # ... and both equal the unrolled reference, read out as apply_mlp reads out
    ref = mlp_hidden(params, X, "tanh", 5, residual, norm)[-1]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mlp_readout(params, got), ref @ params["W_out"] + params["b_out"],
                               rtol=1e-5, atol=1e-5)


def test_an_inactive_hidden_layer_passes_its_input_through():
    from gradviz.models import hidden_layer

    h = jnp.full((3, 4), 1e30)
    W = jnp.full((4, 4), 1e30)
    out, _ = hidden_layer(h, W, jnp.zeros(4), phi=jnp.exp, norm="none", residual=0.0,
                          active=False)
    np.testing.assert_array_equal(out, h)


def test_mlp_forward_past_depth_leaves_h_unchanged():
    from gradviz.activations import get_activation
    from gradviz.models import mlp_forward

    params, phi = make_mlp(6), get_activation("relu")
    shallow = mlp_forward(params, X, phi=phi, residual=0.0, norm="none", depth=2)[0]
    np.testing.assert_allclose(shallow, mlp_hidden(params, X, "relu", 2)[-1], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_rnn_forward_equals_a_python_loop_over_time(cell):
    from gradviz.activations import get_activation
    from gradviz.rnn import rnn_forward

    params = gv.init_rnn(KEY, 2, 6, 1, cell=cell, recurrent_scale=0.9)
    xs = jax.random.normal(KEY, (4, 7, 2))
    h, stats = rnn_forward(params, xs, phi=get_activation("tanh"), length=7)
    np.testing.assert_allclose(h, rnn_hidden(params, xs, "tanh")[-1], rtol=1e-5, atol=1e-6)
    assert stats["saturation"].shape == (7,)
    short, _ = rnn_forward(params, xs, phi=get_activation("tanh"), length=3)
    np.testing.assert_allclose(short, rnn_hidden(params, xs[:, :3], "tanh")[-1], rtol=1e-5,
                               atol=1e-6)


def test_layer_stats_against_numpy():
    from gradviz.models import layer_stats

    z = jax.random.normal(KEY, (50, 8)) * 3
    h = jnp.tanh(z)
    stats = layer_stats(h, z, jnp.tanh, 0.1)
    hn, slope = np.asarray(h), 1 - np.tanh(np.asarray(z)) ** 2
    assert float(stats["act_mean"]) == pytest.approx(hn.mean(), abs=1e-6)
    assert float(stats["act_std"]) == pytest.approx(hn.std(), rel=1e-5)
    assert float(stats["example_spread"]) == pytest.approx(hn.std(axis=0).mean(), rel=1e-5)
    assert float(stats["saturation"]) == pytest.approx((slope < 0.1).mean())
    assert float(stats["dead_fraction"]) == pytest.approx((slope < 0.1).all(axis=0).mean())


@pytest.mark.parametrize("norm, axis", [("batch", 0), ("layer", -1)])
def test_normalize_centres_and_scales_over_its_axis(norm, axis):
    from gradviz.models import NORM_EPS, normalize

    z = np.asarray(jax.random.normal(KEY, (6, 5))) * 3.0 + 1.0
    want = (z - z.mean(axis=axis, keepdims=True)) / np.sqrt(z.var(axis=axis, keepdims=True)
                                                            + NORM_EPS)
    np.testing.assert_allclose(normalize(jnp.asarray(z), norm), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(normalize(jnp.asarray(z), "none"), z)
