"""Training loops against a plain Python loop of optax steps on the reference losses."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import mlp_hidden, mlp_loss, rnn_loss

import gradviz as gv
from gradviz.clipping import clip_fraction, clipped_finite_steps, record_clipping
from gradviz.compiles import count_compiles
from gradviz.runs import divergence_step
from gradviz.train import TrainLog, train_mlp, train_rnn

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(jax.random.PRNGKey(1), (32, 8))
Y = jnp.arange(32) % 4
PARAMS = gv.init_mlp(jax.random.PRNGKey(2), 8, 16, 3, 4, init="xavier", bias_scale=0.1)
SGD = optax.sgd(0.1)  # shared, so that tests with the same shapes share one compilation
ADAM_CLIPPED = optax.chain(record_clipping(optax.clip_by_global_norm(2.5)), optax.adam(1e-2))
# the settings of the second reference case; other tests reuse them, and so its compilation
ADAM_CASE = dict(optimizer=ADAM_CLIPPED, steps=12, batch_size=8, activation="relu",
                 residual=True, norm="layer")


class Reference(NamedTuple):
    params: dict  # after the last step
    params_seen: list  # before each step
    losses: np.ndarray
    grads: list  # at each step, as numpy arrays


def reference_training(loss_fn, params, x, y, optimizer, steps, batch_size=None, key=KEY):
    """A Python loop of optax steps, with the batches documented in gradviz.train."""
    keys = jax.random.split(key, steps)
    if batch_size is not None:
        rows = jax.vmap(lambda k: jax.random.choice(k, len(x), (batch_size,), replace=False))(keys)

    @jax.jit  # jitted only to keep the test fast
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, grads

    state = optimizer.init(params)
    params_seen, losses, grads_seen = [], [], []
    for t in range(steps):
        batch = (x, y) if batch_size is None else (x[rows[t]], y[rows[t]])
        params_seen.append(params)
        params, state, loss, grads = step(params, state, *batch)
        losses.append(loss)
        grads_seen.append(jax.tree.map(np.asarray, grads))
    return Reference(params, params_seen, np.array(losses), grads_seen)


def l2(a):
    return np.sqrt(np.sum(np.square(a, dtype=np.float64)))


def global_norm(tree):
    return np.sqrt(sum(l2(a) ** 2 for a in jax.tree.leaves(tree)))


def max_abs(tree):
    return max(np.abs(a).max() for a in jax.tree.leaves(tree))


def assert_trees_close(a, b, rtol=1e-4, atol=1e-6):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=rtol, atol=atol), a, b)


def hidden_weight_grads(grads):
    return [grads["W_in"]] + list(grads["W"])


@pytest.mark.parametrize(
    "optimizer, batch_size, activation, residual, norm",
    [(SGD, None, "tanh", False, "none"),
     tuple(ADAM_CASE[k] for k in ("optimizer", "batch_size", "activation", "residual", "norm"))],
    ids=["sgd-full-batch", "adam-clipped-minibatch"],
)
def test_train_mlp_matches_a_python_loop_of_optax_steps(
    optimizer, batch_size, activation, residual, norm
):
    steps = 12
    log = train_mlp(KEY, PARAMS, X, Y, optimizer, steps, batch_size, activation, residual, norm)

    def loss_fn(p, x, y):
        return mlp_loss(p, x, y, activation, 3, residual, norm)

    ref = reference_training(loss_fn, PARAMS, X, Y, optimizer, steps, batch_size)
    assert_trees_close(log.params, ref.params)
    np.testing.assert_allclose(log.loss, ref.losses, rtol=1e-5)
    layer_norms = [[l2(w) for w in hidden_weight_grads(g)] for g in ref.grads]
    np.testing.assert_allclose(log.layer_grad_norm, layer_norms, rtol=1e-4)
    np.testing.assert_allclose(log.global_grad_norm, [global_norm(g) for g in ref.grads],
                               rtol=1e-5)
    assert log.layer_names == ("W_in", "W[0]", "W[1]")
    assert not log.nonfinite.any() and log.first_nonfinite_step is None
    assert log.test_loss is None and log.test_accuracy is None


X_TEST, Y_TEST = X[:10] + 0.5, Y[:10]


def test_layer_grad_norm_at_step_zero_is_gradient_flows_weight_grad_norm():
    log = train_mlp(KEY, PARAMS, X, Y, SGD, 12, residual=True, x_test=X_TEST, y_test=Y_TEST)
    flow = gv.gradient_flow(PARAMS, X, Y, residual=True)
    np.testing.assert_allclose(log.layer_grad_norm[0], flow.weight_grad_norm, rtol=1e-5)
    assert float(log.loss[0]) == pytest.approx(flow.loss, rel=1e-6)


def test_accuracy_and_test_metrics_are_those_of_the_parameters_before_each_update():
    log = train_mlp(KEY, PARAMS, X, Y, SGD, 12, x_test=X_TEST, y_test=Y_TEST)
    ref = reference_training(lambda p, x, y: mlp_loss(p, x, y, "tanh", 3), PARAMS, X, Y, SGD, 4)
    logits = jax.jit(lambda p, x: mlp_hidden(p, x, "tanh", 3)[-1] @ p["W_out"] + p["b_out"])
    for t, params in enumerate(ref.params_seen):
        right = np.argmax(logits(params, X), axis=1) == Y
        assert float(log.accuracy[t]) == pytest.approx(np.mean(right))
        test_loss = float(mlp_loss(params, X_TEST, Y_TEST, "tanh", 3))
        assert float(log.test_loss[t]) == pytest.approx(test_loss, rel=1e-5)
        right = np.argmax(logits(params, X_TEST), axis=1) == Y_TEST
        assert float(log.test_accuracy[t]) == pytest.approx(np.mean(right))


@pytest.mark.parametrize(
    "settings, clipped_when",
    [(ADAM_CASE, lambda g: global_norm(g) > 2.5),
     (dict(optimizer=optax.chain(record_clipping(optax.clip(0.25)), optax.sgd(0.5)), steps=12,
           batch_size=8, activation="tanh", residual=False, norm="none"),
      lambda g: max_abs(g) > 0.25)],
    ids=["clip_by_global_norm", "clip-by-value"],
)
def test_clipped_flags_agree_with_a_direct_check_of_the_gradients(settings, clipped_when):
    log = train_mlp(KEY, PARAMS, X, Y, **settings)
    ref = reference_training(
        lambda p, x, y: mlp_loss(p, x, y, settings["activation"], 3, settings["residual"],
                                 settings["norm"]),
        PARAMS, X, Y, settings["optimizer"], settings["steps"], settings["batch_size"],
    )
    expected = [bool(clipped_when(g)) for g in ref.grads]
    assert 0 < sum(expected) < len(expected), "the test needs steps of both kinds"
    np.testing.assert_array_equal(log.clipped, expected)
    assert clip_fraction(log) == pytest.approx(np.mean(expected))


def test_clip_fraction_asks_for_record_clipping_when_nothing_was_recorded():
    log = train_mlp(KEY, PARAMS, X, Y, SGD, 12)
    assert log.clipped is None
    with pytest.raises(ValueError, match="record_clipping"):
        clip_fraction(log)


def test_divergence_step_is_where_the_loss_stays_above_its_start_or_is_not_finite():
    nan, inf = np.nan, np.inf
    assert divergence_step([2.0, 1.0, 0.5]) is None
    assert divergence_step([2.0, 3.0, 1.0, 0.5]) is None  # came back: not diverged
    assert divergence_step([2.0, 1.0, 3.0, 9.0]) == 2
    assert divergence_step([2.0, 1e16, nan, nan]) == 1
    assert divergence_step([2.0, 1.0, inf, 5.0]) == 2  # inf counts as above the start
    np.testing.assert_array_equal(divergence_step([[2.0, 1.0], [2.0, nan]]), [-1, 1])


def test_clipped_finite_steps_leaves_out_the_steps_with_nan():
    log = TrainLog(loss=np.zeros(4), accuracy=None, test_loss=None, test_accuracy=None,
                   layer_grad_norm=np.zeros((4, 1)), global_grad_norm=np.zeros(4),
                   clipped=np.array([True, False, True, True]),
                   nonfinite=np.array([False, False, True, True]), params={})
    assert clipped_finite_steps(log) == (1, 2)
    many = log._replace(clipped=np.stack([log.clipped] * 2), nonfinite=np.stack(
        [log.nonfinite, np.zeros(4, bool)]))
    clipped, finite = clipped_finite_steps(many)
    np.testing.assert_array_equal(clipped, [1, 3])
    np.testing.assert_array_equal(finite, [2, 4])


def test_a_small_mlp_learns_the_digits():
    data = gv.data.digits()
    x, y, x_test, y_test = data.x[:1500], data.y[:1500], data.x[1500:], data.y[1500:]
    params = gv.init_mlp(KEY, 64, 32, 2, 10, init="xavier")
    log = train_mlp(KEY, params, x, y, optax.adam(1e-2), 150, x_test=x_test, y_test=y_test)
    assert float(log.accuracy[0]) < 0.3
    assert float(log.accuracy[-1]) > 0.95
    assert float(log.test_accuracy[-1]) > 0.85
    assert float(log.loss[-1]) < 0.1 * float(log.loss[0])


def test_overflow_is_reported_not_raised():
    params = gv.init_mlp(KEY, 8, 16, 3, 4, init="he", scale=3.0)
    log = train_mlp(KEY, params, X, Y, optax.sgd(1e6), 12, activation="relu")
    step = log.first_nonfinite_step
    assert step is not None and 0 < step < 12
    assert np.isfinite(log.loss[:step]).all() and np.isfinite(log.global_grad_norm[:step]).all()
    assert not np.isfinite(log.loss[step]) or not np.isfinite(log.global_grad_norm[step])
    assert log.nonfinite[step:].all()  # training carried on, and NaN stayed NaN


def test_vmap_over_seeds_and_initial_scales_equals_a_loop_of_single_runs():
    keys = jax.random.split(KEY, 3)
    scales = [0.5, 1.0, 2.0]
    inits = [gv.init_mlp(jax.random.PRNGKey(2), 8, 16, 3, 4, scale=s) for s in scales]
    stacked = jax.tree.map(lambda *p: jnp.stack(p), *inits)

    def run(key, params):
        return train_mlp(key, params, X, Y, **ADAM_CASE)

    many = jax.vmap(run)(keys, stacked)
    singles = [run(k, p) for k, p in zip(keys, inits, strict=True)]
    assert_trees_close(many, jax.tree.map(lambda *a: jnp.stack(a), *singles), rtol=1e-4)
    assert many.loss.shape == (3, 12) and many.layer_grad_norm.shape == (3, 12, 3)
    assert many.first_nonfinite_step == [None, None, None]
    np.testing.assert_allclose(clip_fraction(many), [clip_fraction(s) for s in singles])
    assert many.layer_names == ("W_in", "W[0]", "W[1]")


def test_changing_residual_does_not_recompile():
    train_mlp(KEY, PARAMS, X, Y, SGD, 12)
    with count_compiles() as compiles:
        train_mlp(KEY, PARAMS, X, Y, SGD, 12, residual=True)
    assert compiles.count == 0


ADDING = gv.data.adding_problem(jax.random.PRNGKey(3), 256, 6)


RNN_CLIPPED = optax.chain(record_clipping(optax.clip_by_global_norm(0.3)), optax.adam(1e-2))


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_train_rnn_matches_a_python_loop_and_learns_an_easy_task(cell):
    xs, y = ADDING
    params = gv.init_rnn(KEY, 2, 16, 1, cell=cell)
    log = train_rnn(KEY, params, xs, y, RNN_CLIPPED, 100, batch_size=32,
                    xs_test=xs[:64], y_test=y[:64])
    ref = reference_training(rnn_loss, params, xs, y, RNN_CLIPPED, 100, 32)
    assert_trees_close(log.params, ref.params, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(log.loss, ref.losses, rtol=1e-3, atol=1e-6)
    assert log.layer_names == tuple(sorted(params))
    norms = [[l2(g[name]) for name in log.layer_names] for g in ref.grads]
    np.testing.assert_allclose(log.layer_grad_norm, norms, rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(log.clipped, [global_norm(g) > 0.3 for g in ref.grads])
    assert log.accuracy is None and log.test_accuracy is None  # regression: no accuracy
    # it learns: the adding problem at length 6 is easy
    assert float(log.loss[-20:].mean()) < 0.1 * float(log.loss[:20].mean())
    assert float(log.test_loss[-1]) < 0.1 * float(log.test_loss[0])


@pytest.mark.parametrize(
    "change, message",
    [(dict(steps=0), "steps"), (dict(steps=-3), "steps"), (dict(steps=2.5), "steps"),
     (dict(x=X[:, :5]), "x must have last dimension 8"), (dict(x=X[0]), "x must have 2"),
     (dict(y=Y[:10]), "labels y of shape"), (dict(y=Y.astype(float)), "integer labels"),
     (dict(activation="swish"), "unknown activation"), (dict(norm="group"), "unknown norm"),
     (dict(loss="hinge"), "unknown loss"), (dict(optimizer=optax.sgd), "call it"),
     (dict(optimizer=0.1), "GradientTransformation"), (dict(batch_size=33), "batch_size"),
     (dict(batch_size=0), "batch_size"), (dict(x_test=X), "both x_test and y_test"),
     (dict(x_test=X[:, :5], y_test=Y), "x must have last dimension 8")],
)
def test_bad_mlp_inputs_raise_clear_value_errors(change, message):
    args = dict(key=KEY, params=PARAMS, x=X, y=Y, optimizer=SGD, steps=5) | change
    with pytest.raises(ValueError, match=message):
        train_mlp(**args)


@pytest.mark.parametrize(
    "change, message",
    [(dict(steps=0), "steps"), (dict(xs=ADDING[0][:, :, :1]), "xs must have last dimension 2"),
     (dict(y=ADDING[1][:5]), "targets y of shape"), (dict(activation="swish"), "activation"),
     (dict(xs_test=ADDING[0]), "both xs_test and y_test")],
)
def test_bad_rnn_inputs_raise_clear_value_errors(change, message):
    params = gv.init_rnn(KEY, 2, 8, 1)
    args = dict(key=KEY, params=params, xs=ADDING[0], y=ADDING[1], optimizer=SGD, steps=5)
    with pytest.raises(ValueError, match=message):
        train_rnn(**(args | change))
    with pytest.raises(ValueError, match="GradientTransformation"):
        record_clipping(optax.clip_by_global_norm)


def test_a_train_log_is_a_pytree_of_arrays():
    log = train_mlp(KEY, PARAMS, X, Y, SGD, 12)
    assert isinstance(log, TrainLog)
    leaves = jax.tree.leaves(log)
    assert all(isinstance(a, jax.Array) for a in leaves)
    assert log.clipped is None and log.layer_grad_norm.shape == (12, 3)


def test_a_one_layer_mlp_trains():
    """Depth 1 has no hidden-to-hidden weights (W has shape (0, w, w)): nothing to norm."""
    data = gv.data.digits(64)
    params = gv.init_mlp(jax.random.PRNGKey(0), 64, 16, 1, 10)
    log = gv.train.train_mlp(jax.random.PRNGKey(1), params, data.x, data.y, optax.adam(1e-2), 20)
    assert np.all(np.isfinite(log.loss)) and log.loss[-1] < log.loss[0]
    assert log.layer_grad_norm.shape[0] == 20 and np.all(log.layer_grad_norm > 0)
