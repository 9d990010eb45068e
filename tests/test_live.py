"""gradviz.live (training you can watch) against independent references: a hand-rolled
SGD step, optax's own optimizers and clipping, and direct norms of the weights."""

import jax
import numpy as np
import optax
import pytest

import gradviz as gv
from gradviz.compiles import count_compiles
from gradviz.live import (
    CLIPPING,
    MAX_DEPTH,
    Architecture,
    Hyper,
    class_probability,
    diagnose,
    extend,
    make_optimizer,
    make_task,
    start_run,
    train_steps,
)

KEY = jax.random.PRNGKey(0)
MOONS = make_task("moons", noise=0.2)


def loss_of(params, x, y, arch):
    """The same loss, through the public gradviz model (an independent path)."""
    outputs = gv.apply_mlp(params, x, arch.activation, arch.residual, arch.norm,
                           depth=arch.depth)
    return optax.softmax_cross_entropy_with_integer_labels(outputs, y).mean()


def test_tasks_are_generated_deterministically_with_held_out_points():
    for name in ("moons", "circles", "spiral", "xor"):
        task = make_task(name, noise=0.1)
        assert task.x_train.shape == (256, 2) and task.x_test.shape == (256, 2)
        assert task.n_classes == 2
        assert 0.3 < float(task.y_train.mean()) < 0.7, name  # both classes present
        again = make_task(name, noise=0.1)
        np.testing.assert_array_equal(task.x_train, again.x_train)
        assert not np.allclose(task.x_train, make_task(name, noise=0.5).x_train)
        assert not np.allclose(task.x_train, task.x_test)
    digits = make_task("digits")
    assert digits.x_train.shape == (1500, 64) and digits.n_classes == 10
    with pytest.raises(ValueError, match="expected one of: moons, circles"):
        make_task("swiss roll")


def test_one_sgd_step_is_the_hand_rolled_update():
    arch = Architecture(depth=3, width=8, activation="tanh", init="xavier")
    hyper = Hyper(optimizer="sgd", lr=0.05, batch_size=None)
    run = start_run(KEY, MOONS, arch, hyper)
    new, log = train_steps(run, MOONS, arch, hyper, n_steps=1)
    loss, grads = jax.value_and_grad(loss_of)(run.params, MOONS.x_train, MOONS.y_train, arch)
    expected = jax.tree.map(lambda p, g: p - 0.05 * g, run.params, grads)
    for name in ("W_in", "W", "W_out"):
        np.testing.assert_allclose(new.params[name], expected[name], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(log.loss[0], loss, rtol=1e-6)
    assert new.step == 1 and log.step.tolist() == [0]
    # the update ratio is ||W_l(after) - W_l(before)|| / ||W_l(before)||, layer by layer
    w_before = [run.params["W_in"], *run.params["W"][:2]]
    w_after = [new.params["W_in"], *new.params["W"][:2]]
    ratio = [np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(w_after, w_before,
                                                                       strict=True)]
    np.testing.assert_allclose(log.update_ratio[0, :3], ratio, rtol=1e-4)
    norms = [np.linalg.norm(grads["W_in"]), *np.linalg.norm(grads["W"][:2], axis=(1, 2))]
    np.testing.assert_allclose(log.grad_norm[0, :3], norms, rtol=1e-5)
    assert np.all(np.isnan(log.grad_norm[0, 3:])) and np.all(np.isnan(log.update_ratio[0, 3:]))
    assert log.grad_norm.shape == (1, MAX_DEPTH)


@pytest.mark.parametrize("clipping", CLIPPING)
@pytest.mark.parametrize("family", ["momentum", "adam"])
def test_optimizers_and_clipping_are_optax_own(family, clipping):
    """Three steps against the same optax chain built directly with concrete values."""
    arch = Architecture(depth=2, width=8, activation="relu", init="he")
    hyper = Hyper(optimizer=family, lr=0.02, clipping=clipping, threshold=0.05,
                  weight_decay=0.01, batch_size=None)
    run = start_run(KEY, MOONS, arch, hyper)
    new, _ = train_steps(run, MOONS, arch, hyper, n_steps=3)
    clip = {"off": optax.identity(), "by value": optax.clip(0.05),
            "by global norm": optax.clip_by_global_norm(0.05)}[clipping]
    base = (optax.adamw(0.02, weight_decay=0.01) if family == "adam" else
            optax.chain(optax.add_decayed_weights(0.01), optax.sgd(0.02, momentum=0.9)))
    tx = optax.chain(clip, base)
    params, state = run.params, tx.init(run.params)
    for _ in range(3):
        grads = jax.grad(loss_of)(params, MOONS.x_train, MOONS.y_train, arch)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    for name in ("W_in", "W", "W_out", "b_out"):
        np.testing.assert_allclose(new.params[name], params[name], rtol=2e-5, atol=1e-7)
    assert make_optimizer(family, 0.1, 0.0) is not None


def test_a_healthy_network_learns_the_moons_and_a_deep_sigmoid_one_does_not():
    arch = Architecture(depth=4, width=32, activation="relu", init="he")
    hyper = Hyper(optimizer="adam", lr=0.01)
    run, log = train_steps(start_run(KEY, MOONS, arch, hyper), MOONS, arch, hyper, 300)
    assert log.loss[-20:].mean() < 0.5 * log.loss[:5].mean()
    assert log.test_accuracy[-1] > 0.9
    assert "healthy" in diagnose(log, 4)
    deep = Architecture(depth=20, width=32, activation="sigmoid", init="gaussian", scale=0.5)
    sgd = Hyper(optimizer="sgd", lr=0.1)
    run, log = train_steps(start_run(KEY, MOONS, deep, sgd), MOONS, deep, sgd, 300)
    assert abs(log.loss[-50:].mean() - np.log(2)) < 0.02  # chance level
    message = diagnose(log, 20)
    assert "their gradients vanished" in message and "Layers 1-" in message


def test_a_small_learning_rate_is_not_called_a_vanishing_gradient():
    arch = Architecture(depth=6, width=32, activation="relu", init="he")
    slow = Hyper(optimizer="sgd", lr=1e-6)
    run, log = train_steps(start_run(KEY, MOONS, arch, slow), MOONS, arch, slow, 30)
    message = diagnose(log, 6)
    assert "did not vanish" in message and "learning rate too low" in message


def test_overflow_is_reported_with_the_step_where_it_started():
    arch = Architecture(depth=8, width=32, activation="relu", init="gaussian", scale=3.0)
    hyper = Hyper(optimizer="sgd", lr=1.0)
    run, log = train_steps(start_run(KEY, MOONS, arch, hyper), MOONS, arch, hyper, 30)
    first = int(np.flatnonzero(log.nonfinite)[0])
    assert np.all(np.isfinite(log.loss[:first]))
    message = diagnose(log, 8)
    assert f"inf/NaN from step {first}" in message
    if not np.isfinite(log.loss[first]):  # which overflowed first: the forward pass here
        assert "the forward pass overflowed" in message


def test_no_control_recompiles_after_its_first_visit():
    arch = Architecture(depth=8, width=32)
    hyper = Hyper(optimizer="adam", batch_size=32)
    run = start_run(KEY, MOONS, arch, hyper)
    run, _ = train_steps(run, MOONS, arch, hyper, 5)
    class_probability(run, arch, np.zeros((16, 2)))
    with count_compiles() as log:
        for depth in range(1, MAX_DEPTH + 1, 3):
            a = arch._replace(depth=depth, residual=depth % 2 == 0, scale=0.5 + depth / 10)
            run = start_run(KEY, MOONS, a, hyper)
            for clipping in CLIPPING:
                h = hyper._replace(lr=10 ** -(depth % 4), clipping=clipping,
                                   threshold=depth / 8, weight_decay=depth / 1000)
                run, _ = train_steps(run, MOONS, a, h, 5)
            class_probability(run, a, np.zeros((16, 2)))
        for task in ("circles", "spiral", "xor"):
            train_steps(run, make_task(task, noise=0.3), a, h, 5)
    assert log.count == 0


def test_a_new_optimizer_family_starts_a_fresh_state_and_keeps_the_parameters():
    arch = Architecture(depth=3, width=16)
    run, _ = train_steps(start_run(KEY, MOONS, arch, Hyper()), MOONS, arch, Hyper(), 10)
    sgd = Hyper(optimizer="sgd", lr=0.1, batch_size=None)
    new, _ = train_steps(run, MOONS, arch, sgd, 1)
    grads = jax.grad(loss_of)(run.params, MOONS.x_train, MOONS.y_train, arch)
    np.testing.assert_allclose(new.params["W_out"], run.params["W_out"] - 0.1 * grads["W_out"],
                               rtol=1e-5, atol=1e-7)
    assert new.step == 11 and new.optimizer == "sgd"


def test_history_extends_and_probabilities_are_a_softmax():
    arch = Architecture(depth=2, width=8)
    run = start_run(KEY, MOONS, arch, Hyper())
    run, a = train_steps(run, MOONS, arch, Hyper(), 4)
    run, b = train_steps(run, MOONS, arch, Hyper(), 3)
    both = extend(extend(None, a), b)
    assert both.step.tolist() == list(range(7)) and both.grad_norm.shape == (7, MAX_DEPTH)
    p = class_probability(run, arch, MOONS.x_test[:5])
    logits = gv.apply_mlp(run.params, MOONS.x_test[:5], "relu", depth=2)
    np.testing.assert_allclose(p, jax.nn.softmax(logits)[:, 1], rtol=1e-5)


@pytest.mark.parametrize("bad, message", [
    (dict(arch=Architecture(depth=0)), "depth must be in"),
    (dict(arch=Architecture(depth=33)), "depth must be in"),
    (dict(arch=Architecture(activation="swish")), "expected one of: linear, sigmoid"),
    (dict(arch=Architecture(norm="group")), "expected one of: none, batch, layer"),
    (dict(hyper=Hyper(optimizer="rmsprop")), "expected one of: sgd, momentum, adam"),
    (dict(hyper=Hyper(lr=-1.0)), "learning rate must be in"),
    (dict(hyper=Hyper(clipping="by norm")), "expected one of: off, by value"),
    (dict(hyper=Hyper(threshold=0.0)), "clip threshold must be a finite number > 0"),
    (dict(hyper=Hyper(batch_size=100)), "batch size 100; expected one of: 8, 16"),
])
def test_bad_settings_get_clear_errors(bad, message):
    arch, hyper = bad.get("arch", Architecture()), bad.get("hyper", Hyper())
    with pytest.raises(ValueError, match=message):
        start_run(KEY, MOONS, arch, hyper)


def test_a_chunk_has_at_least_one_step():
    run = start_run(KEY, MOONS, Architecture(), Hyper())
    with pytest.raises(ValueError, match="n_steps must be in"):
        train_steps(run, MOONS, Architecture(), Hyper(), 0)


def test_chapter_3b_exercises_measure_what_they_ask():
    from gradviz import exercises
    from gradviz.exercises import ch3b

    frozen = ch3b._ch3b_frozen_layers()
    assert 5 <= frozen <= 11  # the first layers of a depth-12 sigmoid net, not all of them
    assert exercises.check("ch3b_frozen_layers", frozen + 1).correct
    assert not exercises.check("ch3b_frozen_layers", 0).correct
    assert not exercises.check("ch3b_frozen_layers", 12).correct
    rates = exercises.LIVE_LEARNING_RATES
    stable = ch3b._ch3b_stable_lr()
    assert stable < rates[-1]  # some learning rate in the list does overflow
    above = rates[rates.index(stable) + 1]
    log = ch3b._ch3b_run(Architecture(8, 64, "relu", "he"),
                         Hyper("sgd", above, batch_size=64))
    assert log.nonfinite.any()
    assert exercises.check("ch3b_stable_lr", stable).correct
    assert not exercises.check("ch3b_stable_lr", above).correct


def test_the_frozen_layers_exercise_wants_a_whole_number():
    from gradviz import exercises
    from gradviz.exercises import ch3b

    frozen = ch3b._ch3b_frozen_layers()
    assert not exercises.check("ch3b_frozen_layers", frozen - 0.4).correct
