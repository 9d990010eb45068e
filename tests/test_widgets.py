"""Explorers driven from Python: set a control, check what the figure now shows."""

import warnings

import matplotlib
import numpy as np
import pytest

import gradviz as gv
from gradviz import theory
from gradviz.compiles import count_compiles
from gradviz.experiments import clipped_gradient
from gradviz.summaries import (
    clip_outcome,
    flow_summary,
    layer_ranges,
    overflow_message,
    panel_note,
)
from gradviz.widgets import MODELS, FlowExplorer, RNNExplorer

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def flow_explorer():
    return FlowExplorer(depth=20, width=32)


def expected_flow(ex: FlowExplorer):
    residual, norm = MODELS[ex.model.value]
    params = gv.init_mlp(ex.key, 64, ex.width.value, 64, 10, init=ex.init.value,
                         scale=ex.scale.value, bias_scale=ex.bias_scale.value)
    return gv.gradient_flow(params, ex.data.x, ex.data.y, ex.activation.value, residual, norm,
                            depth=ex.depth.value)


def assert_shows(ex: FlowExplorer):
    want = expected_flow(ex)
    a = ex.artists
    layers = np.arange(1, ex.depth.value + 1)
    np.testing.assert_array_equal(a.signal.get_xdata(), layers)
    np.testing.assert_allclose(a.signal.get_ydata(), want.signal_norm, rtol=1e-6)
    np.testing.assert_allclose(a.weight_grad.get_ydata(), want.weight_grad_norm, rtol=1e-6)
    np.testing.assert_allclose(a.saturation.get_ydata(), want.saturation)
    np.testing.assert_allclose(a.act_std.get_ydata(), np.where(want.act_std > 0, want.act_std,
                                                               np.nan), rtol=1e-6)
    spread = np.where(want.example_spread > 0, want.example_spread, np.nan)
    np.testing.assert_allclose(a.example_spread.get_ydata(), spread, rtol=1e-6)
    rms = np.sqrt(want.act_mean.astype(np.float64) ** 2 + want.act_std.astype(np.float64) ** 2)
    np.testing.assert_allclose(a.rounding.get_ydata(), np.finfo(np.float32).eps * rms, rtol=1e-6)
    assert a.example_spread.axes.get_yscale() == "log"
    np.testing.assert_allclose(a.update_ratio.get_ydata(), want.update_ratio, rtol=1e-6)
    # the axes follow the data (ipympl axes do not rescale by themselves)
    low, high = a.signal.axes.get_ylim()
    finite = want.signal_norm[np.isfinite(want.signal_norm) & (want.signal_norm > 0)]
    assert low <= finite.min() and high >= finite.max()


@pytest.mark.parametrize(
    "control, value",
    [("depth", 45), ("depth", 1), ("activation", "tanh"), ("activation", "relu"),
     ("init", "he"), ("init", "orthogonal"), ("scale", 2.5), ("bias_scale", 0.7),
     ("depth", 64)],
)
def test_each_control_updates_the_artists_without_compiling(flow_explorer, control, value):
    ex = flow_explorer
    fig, artists = ex.fig, ex.artists
    with count_compiles() as log:
        getattr(ex, control).value = value
    assert log.count == 0
    assert ex.fig is fig and ex.artists is artists and len(fig.axes) == 4  # never rebuilt
    assert_shows(ex)
    assert ex.summary.value  # the text line moved with the figure


def test_model_and_width_compile_once_per_choice_then_never(flow_explorer):
    ex = flow_explorer
    for name in MODELS:
        ex.model.value = name
        assert_shows(ex)
    with count_compiles() as log:
        for name in reversed(MODELS):
            ex.model.value = name
    assert log.count == 0
    ex.model.value = "MLP"
    for width in (64, 32):  # a new width compiles once (new shapes), then never again
        ex.width.value = width
        assert_shows(ex)
    with count_compiles() as log:
        ex.width.value = 64
        ex.width.value = 32
    assert log.count == 0


def test_theory_line_follows_the_mean_field_prediction(flow_explorer):
    ex = flow_explorer
    ex.activation.value, ex.init.value, ex.scale.value, ex.bias_scale.value = (
        "tanh", "gaussian", 1.2, 0.1)
    theory_y = ex.artists.theory.get_ydata()
    assert len(theory_y) == ex.depth.value
    gain = float(theory.signal_gain_per_layer(1.2, 0.1, "tanh"))
    assert f"{gain:.2f}x per layer" in ex.summary.value
    ex.model.value = "residual MLP"
    assert len(ex.artists.theory.get_ydata()) == 0  # no prediction drawn where none applies
    ex.model.value = "MLP"


def test_overflow_is_shown_and_the_explorer_keeps_responding(flow_explorer):
    ex = flow_explorer
    ex.activation.value, ex.init.value, ex.depth.value = "relu", "he", 64
    ex.scale.value = 5.0
    assert "inf/NaN" in ex.artists.overflow.get_text()
    assert ex.summary.value.startswith("Overflow")
    ex.scale.value = 1.0
    assert ex.artists.overflow.get_text() == ""
    assert_shows(ex)


@pytest.mark.parametrize("activation, init", [("tanh", "xavier"), ("sigmoid", "xavier"),
                                              ("relu", "he")])
def test_every_log_axis_has_three_labelled_ticks(flow_explorer, activation, init):
    ex = flow_explorer
    ex.model.value, ex.scale.value, ex.bias_scale.value = "MLP", 1.0, 0.0
    ex.activation.value, ex.init.value, ex.depth.value = activation, init, 20
    ex.fig.canvas.draw()
    a = ex.artists
    for ax in (a.signal.axes, a.example_spread.axes, a.update_ratio.axes):
        low, high = ax.get_ylim()
        locs = ax.yaxis.get_majorticklocs()
        labels = ax.yaxis.get_major_formatter().format_ticks(locs)
        shown = [label for loc, label in zip(locs, labels, strict=True)
                 if low <= loc <= high and label]
        assert 3 <= len(shown) <= 7, (ax.get_title(), ax.get_ylim(), shown)


def test_log_linear_toggle(flow_explorer):
    flow_explorer.yscale.value = "linear"
    assert flow_explorer.artists.signal.axes.get_yscale() == "linear"
    flow_explorer.yscale.value = "log"
    assert flow_explorer.artists.signal.axes.get_yscale() == "log"


def test_rnn_explorer_controls():
    ex = RNNExplorer(length=30, hidden=16, max_length=60)
    ex.recurrent_scale.value = 0.6  # warm: the first call of each function compiles
    with count_compiles() as log:
        ex.length.value = 20
        ex.recurrent_scale.value = 1.3
    assert log.count == 0
    params = gv.init_rnn(ex.key, 2, 16, 1, recurrent_scale=1.3)
    want = gv.rnn_gradient_flow(params, ex.xs, ex.y, length=20)
    np.testing.assert_allclose(ex.artists.signal.get_ydata(), want.signal_norm, rtol=1e-6)
    assert ex.update_gate_bias.disabled
    ex.cell.value = "gru"
    assert not ex.update_gate_bias.disabled
    assert ex.lag_map.shape == (len(ex.SCALES), 60)
    np.testing.assert_allclose(ex.lag_map[:, 0], 1.0, rtol=1e-5)  # lag 0: the identity
    assert "gru RNN" in ex.summary.value


def test_rnn_explorer_lag_map_shows_growth_and_the_time_axis_has_labelled_ticks():
    ex = RNNExplorer(length=40, hidden=16, max_length=60)
    low, high = ex.artists.image.get_clim()
    assert low == -high > -np.inf  # centred on log10 = 0: decay and growth both visible
    assert np.nanmax(ex.artists.image.get_array()) > 0  # the largest scales grow with the lag
    for scale in (0.5, 1.5, 2.0):  # flat or steep, the log axis shows >= 3 powers of 10
        ex.recurrent_scale.value = scale
        ax = ex.artists.signal.axes
        bottom, top = np.log10(ax.get_ylim())
        assert top - bottom >= 2 and bottom == np.floor(bottom) and top == np.floor(top)
        data = ex.artists.signal.get_ydata()
        assert 10**bottom <= data.min() and data.max() <= 10**top


def test_clip_explorer_shows_optax_clipping():
    import jax
    import optax

    from gradviz.widgets import ClipExplorer

    ex = ClipExplorer(steps=40, hidden=8)
    ex.threshold.value = 3
    with count_compiles() as log:
        for index in range(len(ex.THRESHOLDS)):
            ex.threshold.value = index
    assert log.count == 0
    ex.threshold.value = 8
    threshold = float(ex.THRESHOLDS[8])
    # the drawn run is the one optax gives for this threshold, trained on its own
    key = jax.random.PRNGKey(0)
    xs, y = gv.data.adding_problem(key, 512, 30)
    params = gv.init_rnn(key, 2, 8, 1, recurrent_scale=1.1)
    optimizer = optax.chain(optax.clip_by_global_norm(threshold), optax.sgd(0.01))
    alone = gv.train.train_rnn(key, params, xs, y, optimizer, 40, batch_size=64,
                               activation="linear")
    np.testing.assert_allclose(ex.artists.loss_lines["global norm"].get_ydata(), alone.loss,
                               rtol=1e-4)
    # clipping by global norm keeps the direction and sets the length to the threshold
    raw = clipped_gradient(ex.gradient, "none", threshold)
    by_norm = clipped_gradient(ex.gradient, "global norm", threshold)
    if np.linalg.norm(raw) > threshold:
        np.testing.assert_allclose(by_norm, raw * threshold / np.linalg.norm(raw), rtol=1e-5)
    by_value = clipped_gradient(ex.gradient, "value", threshold)
    np.testing.assert_allclose(by_value, np.clip(raw, -threshold, threshold), rtol=1e-6)
    assert "no clipping: diverged at step" in ex.summary.value  # the unclipped run blows up
    labels = [t.get_text() for t in ex.artists.loss_legend.get_texts()]  # and the legend says so
    assert labels[0].startswith("none: diverged at step") and labels[2] == "global norm"
    assert f"Threshold {threshold:.3g}" in ex.summary.value
    assert "final loss" not in ex.summary.value  # a diverged run has none
    # the loss axis fits the runs that trained, not a blow-up: the losses above it are
    # left out, and a triangle on the top edge marks the step where they left it
    from gradviz.plots.clipping import update_clip

    blow_up = np.r_[1.0, 1e17, np.inf, np.full(37, np.nan)]
    update_clip(ex.artists, ex.point._replace(
        loss={"none": blow_up, "value": np.geomspace(1, 0.05, 40),
              "global norm": np.geomspace(1, 0.1, 40)},
        diverged={"none": 1, "value": None, "global norm": None}))
    low, high = ex.fig.axes[0].get_ylim()
    assert low <= 0.05 and 1 < high <= 1e3
    np.testing.assert_array_equal(ex.artists.loss_lines["none"].get_ydata(),
                                  np.r_[1.0, np.full(39, np.nan)])
    assert ex.artists.off_scale["none"].get_xdata().tolist() == [1]
    assert ex.artists.off_scale["none"].get_ydata().tolist() == [1.0]  # on the top edge
    assert ex.artists.off_scale["global norm"].get_xdata().size == 0  # it stayed on the axis
    # no finite loss at all, or every loss in one decade: still a proper range
    for losses, expected in (({"none": np.full(40, np.inf), "value": np.full(40, np.nan),
                               "global norm": np.full(40, np.nan)}, (1e-3, 10**5.4)),
                             ({"none": np.full(40, 10.0), "value": np.full(40, 10.0),
                               "global norm": np.full(40, 10.0)}, (10.0, 10**2.4))):
        update_clip(ex.artists, ex.point._replace(loss=losses, diverged={
            "none": 0, "value": None, "global norm": None}))
        np.testing.assert_allclose(ex.fig.axes[0].get_ylim(), expected)


def test_clip_explorer_marks_diverged_runs_and_counts_only_finite_steps():
    from gradviz.widgets import ClipExplorer

    ex = ClipExplorer(steps=40, hidden=8)
    for name in ("value", "global norm"):
        log = ex.logs[name]
        finite = ~np.asarray(log.nonfinite)
        np.testing.assert_array_equal(ex.finite[name], finite.sum(axis=1))
        np.testing.assert_array_equal(ex.clipped[name],
                                      (np.asarray(log.clipped) & finite).sum(axis=1))
        diverged = ex.diverged[name] >= 0
        # a diverged run is drawn only as an x, a healthy one only on the line
        marker = ex.artists.diverged_markers[name].get_ydata()
        assert np.all(np.isnan(marker[~diverged])) and np.all(np.isfinite(marker[diverged]))
    for index in range(len(ex.THRESHOLDS)):
        ex.threshold.value = index
        for name in ("value", "global norm"):
            said = clip_outcome(ex.experiment.at(index), name)
            if ex.diverged[name][index] >= 0:  # counted only up to the divergence
                assert said.endswith(f"{ex.diverged[name][index] + 1} steps up to it")
            assert said.startswith("diverged at step" if ex.diverged[name][index] >= 0
                                   else "loss ")
    # by global norm the first gradient's norm is min(threshold, norm); by value it may
    # be far above the threshold, up to threshold x sqrt(number of parameters)
    raw = np.linalg.norm(clipped_gradient(ex.gradient, "none", 1.0))
    np.testing.assert_allclose(ex.first_norm["global norm"], np.minimum(ex.THRESHOLDS, raw),
                               rtol=1e-5)
    assert np.all(ex.first_norm["value"] <= ex.THRESHOLDS * np.sqrt(ex.n_params) * (1 + 1e-5))
    np.testing.assert_allclose(ex.first_angle["global norm"], 0, atol=0.5)


# --------------------------------------------------- overflow: shown, not crashed on


@pytest.fixture(scope="module")
def deep_explorer():
    from gradviz.widgets import FlowExplorer

    return FlowExplorer(depth=64, width=128, activation="relu", init="he", scale=1.0)


def assert_figure_draws(explorer):
    explorer.fig.canvas.draw()  # rendering inf/NaN data must not raise
    for ax in explorer.fig.axes:
        assert np.all(np.isfinite(ax.get_ylim())), (ax.get_title(), ax.get_ylim())


@pytest.mark.parametrize("activation, init", [("relu", "he"), ("sigmoid", "xavier"),
                                              ("sigmoid", "he"), ("relu", "xavier")])
def test_explorer_at_depth_64_and_scale_5_says_where_inf_nan_appeared(deep_explorer,
                                                                      activation, init):
    ex = deep_explorer
    ex.scale.value = 1.0
    ex.activation.value, ex.init.value = activation, init
    with count_compiles() as log:
        ex.scale.value = 5.0
    assert log.count == 0
    stats = ex.stats
    where = overflow_message(stats)
    values = np.concatenate([stats.act_mean, stats.act_std, stats.signal_norm])
    if np.all(np.isfinite(values)):
        assert where == "" and "Overflow" not in ex.summary.value
    else:  # it names the first layer of each and draws the message on the figure too
        assert where
        forward = np.flatnonzero(~np.isfinite(stats.act_mean + stats.act_std))
        if forward.size:
            assert f"activations inf/NaN from layer {forward[0] + 1}" in ex.summary.value
        signal = np.asarray(stats.signal_norm)
        if not np.all(np.isfinite(signal)):
            assert "||dL/dh_l|| is inf/NaN at " + layer_ranges(~np.isfinite(signal)) \
                in ex.summary.value
        assert ex.artists.overflow.get_text() == panel_note(stats)
        # the fractions are not drawn past the overflow (relu'(NaN) = 0 would say
        # "100 % saturated"), and the hatched bands cover the non-finite layers
        if forward.size:
            assert np.all(np.isnan(ex.artists.saturation.get_ydata()[forward[0]:]))
            band = ex.artists.nonfinite[1][0]
            assert band.get_visible() and band.get_x() == forward[0] + 0.5
    assert_figure_draws(ex)


def test_overflowed_explorer_keeps_responding(deep_explorer):
    ex = deep_explorer
    ex.activation.value, ex.init.value, ex.depth.value, ex.scale.value = "relu", "he", 64, 5.0
    assert ex.summary.value.startswith("Overflow: activations inf/NaN from layer")
    with count_compiles() as log:  # every control still works from the overflowed state
        ex.yscale.value = "linear"
        assert_figure_draws(ex)
        ex.yscale.value = "log"
        ex.depth.value = 20
        assert "Overflow" not in ex.summary.value
        assert_figure_draws(ex)
        ex.depth.value = 64
        assert ex.summary.value.startswith("Overflow")
        ex.bias_scale.value = 0.5
        ex.scale.value = 1.0
    assert log.count == 0
    assert "Overflow" not in ex.summary.value and ex.artists.overflow.get_text() == ""
    assert not any(band.get_visible() for band, _ in ex.artists.nonfinite)
    assert_figure_draws(ex)

def test_explorer_made_at_overflowing_settings_draws_without_warnings():
    """Constructed already overflowed (nothing positive for the log axis): no error, no
    matplotlib warning shown to the learner, and the figure renders."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex = FlowExplorer(depth=64, width=32, activation="relu", init="he", scale=5.0)
        ex.yscale.value = "linear"
        ex.yscale.value = "log"
        assert_figure_draws(ex)
    assert ex.summary.value.startswith("Overflow: activations inf/NaN from layer")


def test_overflow_summary_says_where_the_gradients_are_nan_and_where_exactly_zero():
    ex = FlowExplorer(depth=64, width=128, activation="relu", init="he", scale=5.0)
    stats = ex.stats
    assert stats.first_nonfinite_forward == 54 and not np.isfinite(stats.loss)
    assert ex.summary.value.startswith("Overflow: activations inf/NaN from layer 54 on")
    # relu passes no gradient where its input is NaN: below layer 64 the signal is 0
    assert "||dL/dh_l|| is inf/NaN at layer 64 and exactly 0 at layers 1-63" in ex.summary.value
    # nothing drawable in the update-ratio panel: no stale tick labels, a note instead
    assert ex.artists.update_ratio.axes.yaxis.get_tick_params()["labelleft"] is False
    assert ex.artists.ratio_note.get_text().startswith("ratio: inf/NaN at layers 55-64")
    assert layer_ranges(np.array([1, 1, 0, 0, 1], bool)) == "layers 1-2 and 5"
    assert layer_ranges(np.array([0, 1, 0], bool)) == "layer 2"
    assert layer_ranges(np.zeros(3, bool)) == ""


def test_init_scale_reaches_past_sigmoids_critical_value():
    assert theory.critical_sigma_w(0.0, "sigmoid") < 14 <= FlowExplorer(depth=2).scale.max


def test_summary_says_why_the_signal_is_exactly_zero():
    ex = FlowExplorer(depth=58, width=128, activation="sigmoid", init="xavier")
    assert np.asarray(ex.stats.signal_norm)[0] == 0  # float32 underflow, no dead units
    assert ex.summary.value.startswith("The signal is exactly 0 at layer")
    assert "it fell below the smallest float32 number (underflow)" in ex.summary.value
    depth = len(ex.stats.signal_norm)  # the same zeros where every unit of a layer is dead
    dead = ex.stats._replace(dead_fraction=np.where(np.arange(depth) == 1, 1.0, 0.0))
    assert flow_summary(dead).endswith("every unit of layer 2 is dead and passes no gradient.")
