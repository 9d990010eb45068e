import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import ACTS, mlp_hidden, mlp_loss, rnn_hidden, rnn_loss

import gradviz as gv
from gradviz.compiles import count_compiles

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(jax.random.PRNGKey(1), (128, 32))
Y = jnp.arange(128) % 10


def per_layer_factor(signal_norm):
    """The factor by which ||dL/dh_l|| grows per layer going backward (log-linear fit)."""
    layers = np.arange(1, len(signal_norm) + 1)
    slope = np.polyfit(layers, np.log(signal_norm), 1)[0]
    return float(np.exp(-slope))


@pytest.mark.parametrize("scale", [0.5, 0.9, 1.5])
def test_deep_linear_network_gain_per_layer_is_the_weight_scale(scale):
    params = gv.init_mlp(KEY, 32, 128, 30, 10, init="gaussian", scale=scale)
    flow = gv.gradient_flow(params, X, Y, activation="linear")
    assert per_layer_factor(flow.signal_norm[1:-1]) == pytest.approx(scale, rel=0.10)


@pytest.mark.parametrize("scale", [1.0, 2.0, 4.0])
def test_sigmoid_gain_per_layer_is_at_most_a_quarter_of_the_scale(scale):
    params = gv.init_mlp(KEY, 32, 128, 20, 10, init="gaussian", scale=scale)
    flow = gv.gradient_flow(params, X, Y, activation="sigmoid")
    assert per_layer_factor(flow.signal_norm[1:-1]) <= 0.25 * scale * 1.05


@pytest.mark.parametrize(
    "activation, residual, norm",
    [("tanh", False, "none"), ("relu", True, "none"), ("sigmoid", False, "batch"),
     ("gelu", True, "layer")],
)
def test_flow_matches_the_unrolled_reference(activation, residual, norm):
    depth, lr = 5, 0.05
    params = gv.init_mlp(KEY, 32, 16, 8, 10, init="he", bias_scale=0.2)
    flow = gv.gradient_flow(params, X, Y, activation, residual, norm, depth=depth, lr=lr)

    perturb = [jnp.zeros((128, 16))] * depth
    grads, dh = jax.grad(mlp_loss, argnums=(0, 7))(
        params, X, Y, activation, depth, residual, norm, perturb
    )
    np.testing.assert_allclose(flow.signal_norm, [jnp.linalg.norm(g) for g in dh], rtol=1e-4)
    w_grads = [grads["W_in"]] + [grads["W"][i] for i in range(depth - 1)]
    weights = [params["W_in"]] + [params["W"][i] for i in range(depth - 1)]
    w_norms = np.array([jnp.linalg.norm(g) for g in w_grads])
    np.testing.assert_allclose(flow.weight_grad_norm, w_norms, rtol=1e-4)
    np.testing.assert_allclose(
        flow.update_ratio, lr * w_norms / np.array([jnp.linalg.norm(w) for w in weights]),
        rtol=1e-4,
    )
    hs = mlp_hidden(params, X, activation, depth, residual, norm)
    np.testing.assert_allclose(flow.act_std, [h.std() for h in hs], rtol=1e-4)
    np.testing.assert_allclose(flow.act_mean, [h.mean() for h in hs], rtol=1e-4, atol=1e-6)
    spread = [np.asarray(h, np.float64).std(axis=0).mean() for h in hs]
    np.testing.assert_allclose(flow.example_spread, spread, rtol=1e-4)
    assert flow.loss == pytest.approx(float(mlp_loss(params, X, Y, activation, depth, residual,
                                                     norm)), rel=1e-5)
    assert flow.first_nonfinite_forward is None and flow.first_nonfinite_backward is None


def numpy_example_spread(params, x, activation, depth):
    """Each unit's std across the batch, averaged over units, at every layer: an unrolled
    float64 NumPy forward pass (no JAX)."""
    phi = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}[activation]
    weights = [params["W_in"], *params["W"][: depth - 1]]
    biases = [params["b_in"], *params["b"][: depth - 1]]
    h, spreads = np.asarray(x, np.float64), []
    for W, b in zip(weights, biases, strict=True):
        h = phi(h @ np.asarray(W, np.float64) + np.asarray(b, np.float64))
        spreads.append(h.std(axis=0).mean())
    return np.array(spreads)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_example_spread_in_float64_matches_numpy_and_shows_the_forward_collapse(activation):
    depth = 20
    params = gv.init_mlp(KEY, 32, 128, depth, 10, init="xavier", bias_scale=0.1)
    want = numpy_example_spread(params, X, activation, depth)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        flow64 = gv.gradient_flow(params64, jnp.asarray(X, jnp.float64), Y, activation)
    assert flow64.example_spread.dtype == np.float64
    # a spread of 1e-12 of |h| keeps only ~4 of float64's 16 digits
    np.testing.assert_allclose(flow64.example_spread, want, rtol=1e-3)
    np.testing.assert_allclose(flow64.example_spread[:5], want[:5], rtol=1e-9)
    flow32 = gv.gradient_flow(params, X, Y, activation)
    if activation == "tanh":  # near the edge of chaos: the examples stay apart
        assert want[-1] > 0.1 * want[0]
        np.testing.assert_allclose(flow32.example_spread, want, rtol=1e-4)
        return
    # ordered phase: the spread shrinks by mean-field theory's sqrt(chi) per layer, the
    # same factor as the backward signal, down to 1e-11 of its start at layer 20 ...
    per_layer = (want[-1] / want[1]) ** (1 / (depth - 2))
    gain = float(gv.theory.signal_gain_per_layer(1.0, 0.1, "sigmoid"))
    assert per_layer == pytest.approx(gain, rel=0.05)
    assert want[-1] < 1e-10 * want[0]
    # ... and the pooled std hides it: over batch and units, h_20 still varies a lot
    assert flow64.act_std[-1] > 0.05
    # float32 cannot follow: below ~eps * |h| its spread is rounding noise
    rounding = np.finfo(np.float32).eps * np.sqrt(flow32.act_mean**2 + flow32.act_std**2)
    assert flow32.example_spread[-1] > 1e3 * want[-1]
    assert flow32.example_spread[-1] < 10 * rounding[-1]
    np.testing.assert_allclose(flow32.example_spread[:5], want[:5], rtol=1e-3)


def test_saturation_of_the_first_layer():
    params = gv.init_mlp(KEY, 32, 64, 2, 10, init="gaussian", scale=6.0)
    flow = gv.gradient_flow(params, X, Y, activation="tanh", saturation_threshold=0.05)
    z = X @ params["W_in"] + params["b_in"]
    slope = 1 - np.tanh(np.asarray(z)) ** 2
    assert flow.saturation[0] == pytest.approx(np.mean(slope < 0.05), abs=1e-6)
    assert flow.dead_fraction[0] == pytest.approx(np.mean(np.all(slope < 0.05, axis=0)), abs=1e-6)
    linear = gv.gradient_flow(params, X, Y, activation="linear")
    assert np.all(linear.saturation == 0) and np.all(linear.dead_fraction == 0)


def test_dead_relu_layer_stops_the_signal():
    params = gv.init_mlp(KEY, 32, 64, 6, 10, init="he")
    params["b"] = params["b"].at[2].set(-100.0)  # layer 4 is dead for every input
    flow = gv.gradient_flow(params, X, Y, activation="relu")
    assert flow.dead_fraction[3] == 1.0 and flow.saturation[3] == 1.0
    # no signal reaches the layers below it, and their weights get no gradient
    assert np.all(flow.signal_norm[:3] == 0.0) and np.all(flow.weight_grad_norm[:4] == 0.0)
    assert flow.signal_norm[-1] > 0


def test_overflow_is_reported_not_raised():
    params = gv.init_mlp(KEY, 32, 64, 64, 10, init="gaussian", scale=5.0)
    flow = gv.gradient_flow(params, X, Y, activation="linear")
    hs = mlp_hidden(params, X, "linear", 64)
    first_bad = next(i for i, h in enumerate(hs) if not np.all(np.isfinite(np.asarray(h))))
    # h_l overflows at this layer; its mean and std are the first non-finite statistics
    assert flow.first_nonfinite_forward == first_bad + 1
    assert np.all(np.isfinite(flow.act_std[: flow.first_nonfinite_forward - 1]))
    assert flow.first_nonfinite_backward == 64
    healthy = gv.gradient_flow(gv.init_mlp(KEY, 32, 64, 64, 10, scale=1.0), X, Y, "tanh")
    assert healthy.first_nonfinite_forward is None and healthy.first_nonfinite_backward is None


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_rnn_gradient_through_time_agrees_with_finite_differences(cell):
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(4)
        params = gv.init_rnn(key, 2, 3, 2, cell=cell, recurrent_scale=1.2, update_gate_bias=0.5)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        xs = jax.random.normal(key, (2, 5, 2), jnp.float64)
        y = jax.random.normal(key, (2, 2), jnp.float64)
        flow = gv.rnn_gradient_flow(params, xs, y)
        eps = 1e-6
        for t in range(5):
            fd = np.zeros((2, 3))
            for b, j in itertools.product(range(2), range(3)):
                bump = np.zeros((5, 2, 3))
                bump[t, b, j] = eps
                fd[b, j] = (rnn_loss(params, xs, y, perturb=bump)
                            - rnn_loss(params, xs, y, perturb=-bump)) / (2 * eps)
            assert flow.signal_norm[t] == pytest.approx(np.linalg.norm(fd), rel=1e-6)
        assert flow.loss == pytest.approx(float(rnn_loss(params, xs, y)), rel=1e-12)


def test_vanilla_rnn_with_small_recurrent_scale_decays_geometrically():
    params = gv.init_rnn(KEY, 4, 64, 1, recurrent_scale=0.5)
    xs = jax.random.normal(KEY, (32, 30, 4))
    flow = gv.rnn_gradient_flow(params, xs, jnp.ones((32, 1)))
    log_norm = np.log(flow.signal_norm)
    steps = np.arange(30)
    slope, intercept = np.polyfit(steps, log_norm, 1)
    residual = log_norm - (slope * steps + intercept)
    r_squared = 1 - residual.var() / log_norm.var()
    assert np.exp(-slope) < 0.6 and r_squared > 0.98
    assert np.all(np.diff(log_norm) > 0)  # every step back in time shrinks the gradient


def test_gru_update_gate_bias_preserves_the_gradient_through_time():
    xs = jax.random.normal(KEY, (32, 40, 4))
    y = jnp.ones((32, 1))
    ratios = []
    for bias in (0.0, 4.0):
        params = gv.init_rnn(KEY, 4, 32, 1, cell="gru", update_gate_bias=bias)
        flow = gv.rnn_gradient_flow(params, xs, y)
        ratios.append(flow.signal_norm[0] / flow.signal_norm[-1])
    assert ratios[1] > 100 * ratios[0]


def test_rnn_length_and_weight_statistics():
    params = gv.init_rnn(KEY, 4, 8, 1)
    xs = jax.random.normal(KEY, (4, 12, 4))
    y = jnp.ones((4, 1))
    short = gv.rnn_gradient_flow(params, xs, y, length=5, lr=0.1)
    cut = gv.rnn_gradient_flow(params, xs[:, :5], y, lr=0.1)
    np.testing.assert_allclose(short.signal_norm, cut.signal_norm, rtol=1e-5)
    grads = jax.grad(rnn_loss)(params, xs[:, :5], y)
    for name in params:
        assert short.weight_grad_norm[name] == pytest.approx(
            float(jnp.linalg.norm(grads[name])), rel=1e-4
        )
    assert set(short.update_ratio) == {"W_x", "W_h", "W_out"}
    assert short.update_ratio["W_h"] == pytest.approx(
        0.1 * short.weight_grad_norm["W_h"] / float(jnp.linalg.norm(params["W_h"])), rel=1e-5
    )


def test_moving_any_control_never_recompiles():
    x, y = X[:32], Y[:32]
    with count_compiles() as warm_up:
        params = gv.init_mlp(KEY, 32, 16, 64, 10)
        for norm in gv.NORMS:  # the norm is the one static choice: a compilation each
            gv.gradient_flow(params, x, y, norm=norm)
    assert warm_up.count <= 1 + len(gv.NORMS)
    with count_compiles() as log:
        for scheme in gv.INIT_SCHEMES:
            for scale in (0.1, 1.0, 3.7):
                params = gv.init_mlp(KEY, 32, 16, 64, 10, init=scheme, scale=scale,
                                     bias_scale=scale / 10)
                gv.gradient_flow(params, x, y)
        for activation in gv.ACTIVATION_NAMES:
            for norm, residual in itertools.product(gv.NORMS, (False, True)):
                gv.gradient_flow(params, x, y, activation, residual, norm, lr=0.5)
        for depth in range(1, 65):
            gv.gradient_flow(params, x, y, depth=depth, saturation_threshold=0.1)
    assert log.count == 0


def test_rnn_controls_never_recompile():
    xs = jax.random.normal(KEY, (8, 50, 4))
    y = jnp.ones((8, 1))
    for cell in gv.rnn.RNN_CELLS:
        gv.rnn_gradient_flow(gv.init_rnn(KEY, 4, 16, 1, cell=cell), xs, y)
    with count_compiles() as log:
        for cell, scale in itertools.product(gv.rnn.RNN_CELLS, (0.5, 1.0, 2.0)):
            params = gv.init_rnn(KEY, 4, 16, 1, cell=cell, recurrent_scale=scale,
                                 update_gate_bias=scale)
            for activation in ("tanh", "relu", "linear"):
                gv.rnn_gradient_flow(params, xs, y, activation)
            for length in range(1, 51):
                gv.rnn_gradient_flow(params, xs, y, length=length)
    assert log.count == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"y": jnp.zeros(128)}, "integer labels"),
        ({"y": jnp.full(128, 10)}, r"labels must be in \[0, 9\]"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
        ({"loss": "mse"}, r"mse needs targets y of shape \(128, 10\)"),
        ({"lr": -1.0}, "lr must be"),
        ({"saturation_threshold": 0.0}, "saturation_threshold must be"),
        ({"residual": "yes"}, "residual must be True or False"),
    ],
)
def test_flow_bad_inputs(kwargs, message):
    params = gv.init_mlp(KEY, 32, 8, 3, 10)
    args = {"y": Y, **kwargs}
    y = args.pop("y")
    with pytest.raises(ValueError, match=message):
        gv.gradient_flow(params, X, y, **args)


def test_activations_reference_is_independent():
    # guard: the reference formulas are not gradviz's own functions
    assert ACTS["sigmoid"] is not jax.nn.sigmoid


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_hidden_jacobian_norms_match_jax_jacobian(cell):
    params = gv.init_rnn(KEY, 3, 5, 1, cell=cell, recurrent_scale=0.8, update_gate_bias=1.0)
    xs = jax.random.normal(KEY, (2, 6, 3))
    got = gv.flow.hidden_jacobian_norms(params, xs, length=5)
    perturb = jnp.zeros((6, 2, 5))

    def last_hidden(perturb, b):  # h_5 of example b, from the reference loop
        return rnn_hidden(params, xs, perturb=perturb)[4, b]

    expected = np.zeros(5)
    for b in range(2):
        jac = jax.jacobian(last_hidden)(perturb, b)  # (5, time, batch, 5)
        expected += np.linalg.norm(np.asarray(jac[:, :5, b, :]), axis=(0, 2)) / np.sqrt(5) / 2
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[-1] == pytest.approx(1.0, rel=1e-6)


def test_stacked_hidden_jacobian_norms_are_the_rows_of_each_network():
    xs = jax.random.normal(KEY, (2, 7, 3))
    nets = [gv.init_rnn(KEY, 3, 5, 1, recurrent_scale=s) for s in (0.5, 1.0, 2.0)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    got = gv.flow.stacked_hidden_jacobian_norms(stacked, xs, length=6)
    assert got.shape == (3, 6)
    for row, params in zip(got, nets, strict=True):
        np.testing.assert_allclose(row, gv.flow.hidden_jacobian_norms(params, xs, length=6),
                                   rtol=1e-5)
    assert got[0, 0] < got[1, 0] < got[2, 0]  # larger recurrent scale, larger at lag 5
    with pytest.raises(ValueError):
        gv.flow.stacked_hidden_jacobian_norms(stacked, xs[:, :, :2])


def test_loss_slice_matches_a_loop_and_finite_differences():
    params = gv.init_rnn(KEY, 2, 4, 1, recurrent_scale=1.0)
    xs = jax.random.normal(KEY, (3, 10, 2))
    y = jnp.ones((3, 1))
    direction = jax.tree.map(jnp.zeros_like, params)
    direction["W_h"] = params["W_h"]  # scale the recurrent weights: W_h * (1 + alpha)

    def loss_fn(p):
        return rnn_loss(p, xs, y)

    alphas = np.linspace(-0.5, 2.0, 6)
    cut = gv.flow.loss_slice(loss_fn, params, direction, alphas)
    for a, loss, slope in zip(alphas, cut.loss, cut.slope, strict=True):
        moved = dict(params, W_h=params["W_h"] * (1 + a))
        assert loss == pytest.approx(float(loss_fn(moved)), rel=1e-5)
        eps = 1e-3
        up = dict(params, W_h=params["W_h"] * (1 + a + eps))
        down = dict(params, W_h=params["W_h"] * (1 + a - eps))
        fd = (float(loss_fn(up)) - float(loss_fn(down))) / (2 * eps)
        assert slope == pytest.approx(fd, rel=2e-2, abs=1e-4)
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D array"):
        gv.flow.loss_slice(loss_fn, params, direction, [])
    with pytest.raises(ValueError, match="same structure"):
        gv.flow.loss_slice(loss_fn, params, {"W_h": params["W_h"]}, alphas)


def test_low_precision_underflow_and_overflow_are_reported():
    data = gv.data.digits(256)

    def flow_in(dtype, activation, **init):
        params = gv.init_mlp(KEY, 64, 128, 30, 10, **init)
        params = jax.tree.map(lambda a: a.astype(dtype), params)
        return gv.gradient_flow(params, data.x.astype(dtype), data.y, activation)

    # sigmoid's vanishing signal underflows float16 (smallest subnormal ~6e-8) to exactly 0
    f16 = flow_in(jnp.float16, "sigmoid", init="xavier")
    bf16 = flow_in(jnp.bfloat16, "sigmoid", init="xavier")
    assert f16.signal_norm[0] == 0 and f16.signal_norm[-1] > 0
    assert np.all(bf16.signal_norm > 0)  # bfloat16 has float32's range
    assert np.all(np.isfinite(f16.signal_norm))  # the measurement itself stays finite
    # ReLU activations growing 2x per layer overflow float16 (max 65504), not bfloat16
    f16 = flow_in(jnp.float16, "relu", init="he", scale=2.0)
    bf16 = flow_in(jnp.bfloat16, "relu", init="he", scale=2.0)
    assert f16.first_nonfinite_forward is not None and bf16.first_nonfinite_forward is None
    assert 2.0 ** (f16.first_nonfinite_forward - 1) < 65504 * 10
