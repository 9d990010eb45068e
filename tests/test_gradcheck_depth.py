"""The verdicts of gradviz.gradcheck where gradients vanish (issue #12): a correct
gradient is never failed, a corrupted layer is never passed, `unresolved` appears where
both gradients are below the round-off floor, and the layer-by-layer check finds the
corrupted layer. References: jax.grad in float64, closed-form derivatives, and the bugs'
own definitions (which layer they corrupt)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradviz as gv
from gradviz.gradcheck import (
    MACHINE_EPS,
    NOISE_ULPS,
    RESOLVE,
    check_gradients,
    check_layers,
    check_mlp_layers,
    mlp_layers,
)
from gradviz.losses import loss_value

KEY = jax.random.PRNGKey(0)
WIDTH, BATCH, CLASSES = 8, 16, 4  # in_dim = width: every weight matrix is square
FAILING = ("suspicious", "wrong")


def sigmoid_loss(params, x, y, activation="sigmoid", residual=False, norm="none"):
    return loss_value(gv.apply_mlp(params, x, activation, residual, norm), y, "cross_entropy")


@pytest.fixture(scope="module")
def batch():
    x = jax.random.normal(jax.random.PRNGKey(1), (BATCH, WIDTH))
    return x, jnp.arange(BATCH) % CLASSES


def weight_of(layer: int, depth: int) -> tuple[str, int | None]:
    """The MLP leaf (and slice) holding layer `layer`'s weights (depth + 1: read-out)."""
    if layer == 1:
        return "W_in", None
    return ("W_out", None) if layer == depth + 1 else ("W", layer - 2)


BUGS = {
    "doubled": lambda g: 2 * g,
    "transposed": lambda g: g.T,
    "zeroed": lambda g: jnp.zeros_like(g),
}


_true_gradient = jax.jit(jax.grad(sigmoid_loss))  # of the sigmoid MLP, compiled per shape


def corrupted(bug: str, layer: int, depth: int):
    """grads(params, x, y, ...): jax.grad (in the check's precision) with one layer's
    weight gradient corrupted by `bug`."""
    name, index = weight_of(layer, depth)

    def grads(params, x, y, *sigmoid_mlp_options):
        g = _true_gradient(params, x, y)
        if index is None:
            return {**g, name: BUGS[bug](g[name])}
        return {**g, name: g[name].at[index].set(BUGS[bug](g[name][index]))}
    return grads


def row_name(layer: int, depth: int) -> str:
    name, index = weight_of(layer, depth)
    return name if index is None else f"{name}[{index}]"


def layer_name(layer: int, depth: int) -> str:
    return "read-out" if layer == depth + 1 else f"layer {layer}"


DEPTHS = (4, 12, 20)  # resolved, near the floor, far below it (see the test after next)


def layers_to_corrupt(depth: int) -> list[int]:
    """Every layer of the shallow network; the first, the middle and the last hidden
    layer and the read-out of the deeper ones (each a separate leaf or slice)."""
    if depth <= 4:
        return list(range(1, depth + 2))
    return [1, depth // 2, depth, depth + 1]


def bugs_for(layer: int, depth: int) -> tuple[str, ...]:
    return tuple(BUGS) if layer <= depth else ("doubled", "zeroed")  # W_out is not square


@pytest.fixture(scope="module")
def deep_mlps():
    """depth -> the sigmoid MLP; built once and shared, so that every check of one depth
    reuses the same compiled functions."""
    return {depth: gv.init_mlp(KEY, WIDTH, WIDTH, depth, CLASSES, init="xavier")
            for depth in DEPTHS}


def end_to_end(params, x, y, grads=None):
    return check_gradients(sigmoid_loss, params, x, y, grads=grads, max_coordinates=None,
                           n_directions=2, stacked=("W", "b"))


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_correct_gradient_is_never_failed_and_every_layer_is_resolved(depth, deep_mlps,
                                                                        batch):
    x, y = batch
    correct = end_to_end(deep_mlps[depth], x, y)
    assert not any(r.verdict in FAILING for r in correct.rows), correct  # never failed
    assert correct.outcome in ("PASSED", "UNRESOLVED")
    layerwise = check_mlp_layers(deep_mlps[depth], x, y, "sigmoid", max_coordinates=8)
    assert layerwise.passed, layerwise  # every layer's VJP is of order one: resolved


@pytest.mark.parametrize("bug", list(BUGS))
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_corrupted_layer_is_never_passed_and_is_found_layer_by_layer(depth, bug, deep_mlps,
                                                                       batch):
    x, y = batch
    params = deep_mlps[depth]
    layers = [layer for layer in layers_to_corrupt(depth) if bug in bugs_for(layer, depth)]
    for layer in layers:
        grads = corrupted(bug, layer, depth)
        report = end_to_end(params, x, y, grads)
        row = report.row(row_name(layer, depth))
        assert not report.passed and row.verdict in FAILING + ("unresolved",), (layer, report)
        for other in report.rows:  # the untouched leaves are not failed
            if other.path != row.path:
                assert other.verdict not in FAILING, (layer, other)
        found = check_mlp_layers(params, x, y, "sigmoid", grads=grads, max_coordinates=4)
        assert found.failing_layers == [layer_name(layer, depth)], (layer, found)
        assert found.row(f"supplied {layer_name(layer, depth)} / W").verdict == "wrong"


def test_the_end_to_end_check_fails_shallow_and_is_unresolved_deep(deep_mlps, batch):
    """The planted bug of chapter 4 (W_in's gradient doubled): resolved and wrong at depth
    4, unresolved at depth 20, where |dL/dW_in| is far below the round-off floor."""
    x, y = batch
    verdicts = {}
    for depth in (4, 20):
        params = deep_mlps[depth]
        report = end_to_end(params, x, y, corrupted("doubled", 1, depth))
        verdicts[depth] = report.row("W_in").verdict
        with jax.enable_x64(True):  # the true gradient, in float64
            as64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params)
            true = _true_gradient(as64, jnp.asarray(np.asarray(x, np.float64)), y)
            largest = float(jnp.abs(true["W_in"]).max())
        floor = RESOLVE * float(report.coordinates["W_in"].noise.min())
        assert (largest > floor) == (depth == 4), (depth, largest, floor)
    assert verdicts == {4: "wrong", 20: "unresolved"}


# --------------------------------------------------------------------------- unresolved


def test_unresolved_exactly_where_both_gradients_are_below_the_floor():
    """f(w) = 1 + sum_i s_i sin(w_i), with slopes s_i from 1 down to 1e-16: the analytic
    gradient s_i cos(w_i) is known in closed form, and the round-off of the central
    difference is about machine_eps |f| / eps."""
    scales = 10.0 ** -np.arange(17)
    w = np.linspace(-1.0, 1.0, scales.size)

    def f(p):
        return 1.0 + jnp.sum(jnp.asarray(scales) * jnp.sin(p["w"]))

    eps = 1e-5
    report = check_gradients(f, {"w": w}, eps=eps)
    c = report.coordinates["w"]
    true = scales * np.cos(w)
    np.testing.assert_allclose(c.analytic, true, rtol=1e-12)
    value = 1.0 + np.sum(scales * np.sin(w))
    noise = NOISE_ULPS * MACHINE_EPS["float64"] * abs(value) / eps  # independent estimate
    np.testing.assert_allclose(c.noise, noise, rtol=1e-6)
    floor = RESOLVE * c.noise
    np.testing.assert_array_equal(c.resolved, np.maximum(np.abs(c.analytic),
                                                         np.abs(c.numerical)) >= floor)
    assert np.all(c.resolved[np.abs(true) > 3 * floor])  # well above the floor: judged
    assert not np.any(c.resolved[np.abs(true) < floor / 3])  # well below: not judged
    assert np.all(c.unexplained[c.resolved] == 0)  # and the judged ones agree
    row = report.row("w")
    assert row.verdict == "good" and row.n_resolved == int(c.resolved.sum())
    assert 0 < row.n_resolved < row.n_checked and str(row.n_checked - row.n_resolved) in \
        row.reason
    assert "unresolved" in repr(report) and report.passed  # partly resolved, all agreeing


def test_a_leaf_with_nothing_resolved_is_neither_passed_nor_failed():
    def f(p):
        return 1.0 + 1e-14 * jnp.sum(jnp.sin(p["tiny"])) + jnp.sum(p["big"] ** 2)

    params = {"tiny": np.linspace(0.0, 1.0, 5), "big": np.linspace(-1.0, 1.0, 3)}

    def wrong(p):  # the tiny leaf's gradient doubled: below the floor, so not seen
        g = jax.grad(f)(p)
        return {**g, "tiny": 2 * g["tiny"]}

    for grads in (None, wrong):
        report = check_gradients(f, params, grads=grads)
        assert report.row("tiny").verdict == "unresolved"
        assert report.row("big").verdict == "good"
        assert not report.passed and report.outcome == "UNRESOLVED"
        assert "cannot certify" in report.row("tiny").reason
        assert "UNRESOLVED" in repr(report) and "layer by layer" in repr(report)


# --------------------------------------------------------------------------- bands


def _tanh_loss(params, x, y):
    return loss_value(gv.apply_mlp(params, x, "tanh"), y, "cross_entropy")


def _gelu_loss(params, x, y):
    return loss_value(gv.apply_mlp(params, x, "gelu", True, "layer"), y, "cross_entropy")


def _rnn_loss(params, xs, y):
    return loss_value(gv.apply_rnn(params, xs), y, "mse")


@pytest.fixture(scope="module")
def smooth_models(batch, deep_mlps):
    x, y = batch
    xs, ys = gv.data.adding_problem(KEY, 4, 6)
    return {
        "tanh MLP": (_tanh_loss, gv.init_mlp(KEY, WIDTH, 16, 3, CLASSES, bias_scale=0.1),
                     (x, y)),
        "residual gelu MLP, layer norm": (
            _gelu_loss, gv.init_mlp(KEY, WIDTH, 16, 4, CLASSES, bias_scale=0.1), (x, y)),
        "sigmoid MLP, depth 12": (sigmoid_loss, deep_mlps[12], (x, y)),
        "GRU": (_rnn_loss, gv.init_rnn(KEY, 2, 6, 1, cell="gru"), (xs, ys)),
    }


@pytest.mark.parametrize("eps", [1e-4, 1e-5, 1e-6])
def test_a_correct_smooth_gradient_is_never_failed_at_a_sensible_step(eps, smooth_models):
    for name, (f, params, args) in smooth_models.items():  # (the step is not compiled in)
        report = check_gradients(f, params, *args, eps=eps, max_coordinates=200,
                                 n_directions=2)
        verdicts = {r.path: r.verdict for r in report.rows}
        assert not set(verdicts.values()) & set(FAILING), (name, eps, report)
        assert report.directional.verdict not in FAILING, (name, eps)


def test_a_truncation_dominated_step_is_explained_not_failed():
    """f = sum exp(3 w): the central difference is off by eps^2 f'''/6 = 1.5 eps^2 f'
    (relative), 1.5e-6 at eps = 1e-3, far above the good band."""
    params = {"w": np.linspace(-0.5, 0.5, 6)}

    def f(p):
        return jnp.sum(jnp.exp(3 * p["w"]))

    report = check_gradients(f, params, eps=1e-3)
    row = report.row("w")
    assert row.max_error == pytest.approx(1.5e-6, rel=0.05)  # Taylor: 9 eps^2 / 6
    assert row.verdict == "acceptable with truncation" and report.passed
    assert row.n_truncation == 6 and "smaller step" in row.reason
    c = report.coordinates["w"]
    np.testing.assert_allclose(c.extrapolated, c.analytic, rtol=1e-9)  # Richardson agrees

    def off(p):  # a bug (1e-4 relative) the same size as ... larger than truncation
        return {"w": (1 + 1e-4) * jax.grad(f)(p)["w"]}

    bug = check_gradients(f, params, grads=off, eps=1e-3)
    assert bug.row("w").verdict == "suspicious" and bug.row("w").n_truncation == 0
    assert check_gradients(f, params, eps=1e-5).row("w").verdict == "good"  # smaller step


# --------------------------------------------------------------------------- layer by layer


def test_layers_compose_and_split_a_gradient_like_the_parameters(deep_mlps, batch):
    x, y = batch
    params = deep_mlps[4]
    names, layers, per_layer = mlp_layers(params, "sigmoid")
    assert names == ["layer 1", "layer 2", "layer 3", "layer 4", "read-out"]
    h = x
    for layer, p in zip(layers, per_layer, strict=True):
        h = layer(p, h)
    np.testing.assert_allclose(h, gv.apply_mlp(params, x, "sigmoid"), rtol=1e-5, atol=1e-6)
    grads = _true_gradient(params, x, y)
    split = mlp_layers(grads, "sigmoid")[2]
    np.testing.assert_array_equal(split[3]["W"], grads["W"][2])  # layer 4 holds W[2]
    np.testing.assert_array_equal(split[0]["b"], grads["b_in"])


def test_a_wrong_hand_written_layer_backward_is_caught_on_its_layer():
    """A user's layered function with hand-written VJPs; the tanh layer's rule forgets
    the transpose. Reference: the rule's definition."""
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(5, 5)) / 2, rng.normal(size=(5, 3)) / 2

    def dense_tanh(p, h):
        return jnp.tanh(h @ p["W"])

    def dense(p, h):
        return h @ p["W"]

    def tanh_backward(p, h, u, transpose=True):
        du = u * (1 - jnp.tanh(h @ p["W"]) ** 2)
        return {"W": h.T @ du}, du @ (p["W"].T if transpose else p["W"])

    x = rng.normal(size=(4, 5))
    good = check_layers([dense_tanh, dense], [{"W": W1}, {"W": W2}], x,
                        backward=[tanh_backward, None])
    assert good.passed and good.failing_layers == []
    bad = check_layers([dense_tanh, dense], [{"W": W1}, {"W": W2}], x,
                       backward=[lambda p, h, u: tanh_backward(p, h, u, False), None])
    assert bad.failing_layers == ["layer 1"]
    assert bad.row("layer 1 / input").verdict == "wrong"
    assert bad.row("layer 1 / W").verdict == "good"  # the parameter part of the rule is right


def test_float32_supplied_gradients_get_float32_bands(deep_mlps, batch):
    x, y = batch
    params = deep_mlps[4]
    grads = _true_gradient(params, x, y)  # float32, outside any check
    report = check_mlp_layers(params, x, y, "sigmoid", grads=grads, max_coordinates=16)
    assert report.passed, report
    assert max(r.max_error for r in report.supplied) > 1e-9  # float32 round-off is there
    doubled = {**grads, "W_in": 2 * grads["W_in"]}
    assert check_mlp_layers(params, x, y, "sigmoid", grads=doubled,
                            max_coordinates=16).failing_layers == ["layer 1"]


def test_layerwise_bad_input_gets_clear_errors(deep_mlps, batch):
    x, y = batch
    params = deep_mlps[4]
    with pytest.raises(ValueError, match="layers and params must be lists of the same"):
        check_layers([jnp.tanh], [], x)
    with pytest.raises(ValueError, match="must be a function layer"):
        check_layers(["tanh"], [{}], x)
    with pytest.raises(ValueError, match="needs the last layer to return a scalar"):
        check_layers([lambda p, h: h * p["a"]], [{"a": jnp.ones(())}], x, grads=[{"a": 1.0}])
    with pytest.raises(ValueError, match="stacked names 'V', which is not a leaf"):
        check_gradients(sigmoid_loss, params, x, y, stacked=("V",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_mlp_layers(params, x, y, "sigmoid", max_coordinates=8)
