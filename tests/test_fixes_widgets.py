"""Chapter 3's explorers driven from Python: set a control, check what the figure shows,
and that nothing compiles once warm."""

import jax
import matplotlib
import numpy as np
import pytest

import gradviz as gv
from gradviz import theory
from gradviz.compiles import count_compiles
from gradviz.isometry import jacobian_spectra
from gradviz.phase import scale_mlp
from gradviz.summaries import critical_band, phase_summary
from gradviz.widgets import IsometryExplorer, PhaseDiagramExplorer

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def phase():
    return PhaseDiagramExplorer(depth=12, width=16, n_w=6, n_b=4, n_examples=32)


def test_phase_map_shows_the_diagram_and_the_critical_line(phase):
    assert list(phase.diagrams) == ["tanh"]  # relu's grid waits until it is shown
    for name in ("relu", "tanh"):
        phase.activation.value = name
        diagram = phase.diagrams[name]
        np.testing.assert_allclose(phase.image.get_array(), diagram.log_gain)
        sigma_bs = phase.artists.critical_line.get_ydata()
        assert sigma_bs[0] == diagram.sigma_b[0] and sigma_bs[-1] == diagram.sigma_b[-1]
        assert len(sigma_bs) > 4 * len(diagram.sigma_b)  # a smooth curve, not the map's rows
        np.testing.assert_allclose(phase.artists.critical_line.get_xdata(),
                                   theory.critical_sigma_w(sigma_bs, name), rtol=1e-6)
    assert phase.diagrams["tanh"].log_gain.shape == (4, 6)


def test_moving_the_point_redraws_its_flow_without_compiling(phase):
    phase.sigma_w.value, phase.sigma_b.value = 1.3, 0.2  # warm-up
    phase.diagram("relu")  # each activation's grid is computed once, when first shown
    for sw, sb, name in [(0.6, 0.0, "tanh"), (2.5, 1.0, "relu"), (1.45, 0.35, "tanh")]:
        before = np.array(phase.artists.signal.get_ydata())
        with count_compiles() as log:
            phase.activation.value = name
            phase.sigma_w.value, phase.sigma_b.value = sw, sb
        assert log.count == 0
        marker = phase.artists.marker
        assert list(marker.get_xdata()) == [sw] and list(marker.get_ydata()) == [sb]
        want = gv.gradient_flow(scale_mlp(phase.unit, sw, sb), phase.data.x, phase.data.y, name)
        np.testing.assert_allclose(phase.artists.signal.get_ydata(), want.signal_norm, rtol=1e-6)
        assert not np.allclose(before, phase.artists.signal.get_ydata())
        assert f"σ_w = {sw:.2f}" in phase.summary.value
        predicted = theory.predicted_signal_profile(
            12, sw, sb, name, input_mean_square=phase.input_mean_square)
        np.testing.assert_allclose(phase.artists.theory.get_ydata(),
                                   np.asarray(predicted) * want.signal_norm[-1], rtol=1e-5)


def test_the_phase_named_in_the_summary_follows_the_critical_line(phase):
    phase.activation.value = "tanh"
    phase.sigma_b.value, phase.sigma_w.value = 0.0, 0.5
    assert "ordered" in phase.summary.value
    phase.sigma_w.value = 3.0
    assert "chaotic" in phase.summary.value


def test_phase_explorer_bad_inputs():
    with pytest.raises(ValueError, match="unknown activation"):
        PhaseDiagramExplorer(activation="sigmoid")
    with pytest.raises(ValueError, match="sigma_w must be in"):
        PhaseDiagramExplorer(sigma_w=9.0)


def test_isometry_explorer_shows_the_spectrum_of_the_chosen_depth():
    ex = IsometryExplorer(depth=3, width=8, max_depth=12)
    ex.depth.value = 4  # warm-up
    for act, depth in [("linear", 12), ("tanh", 5), ("linear", 1)]:
        with count_compiles() as log:
            ex.activation.value = act
            ex.depth.value = depth
        assert log.count == 0
        for init in ex.INITS:
            want = jacobian_spectra(jax.random.PRNGKey(0), 8, 12, act, init, 1.0).at(depth)
            np.testing.assert_allclose(ex.artists.spectrum[init].get_ydata(), want, rtol=1e-5)
        assert list(ex.artists.depth_marker.get_xdata()) == [depth, depth]
        assert f"depth {depth}" in ex.summary.value
    ex.activation.value, ex.depth.value = "linear", 12
    np.testing.assert_allclose(ex.artists.spectrum["orthogonal"].get_ydata(), 1.0, rtol=1e-4)


def test_a_click_on_the_map_moves_the_point(phase):
    from types import SimpleNamespace

    click = SimpleNamespace(inaxes=phase.image.axes, xdata=2.0, ydata=0.5)
    phase._on_click(click)
    assert phase.sigma_w.value == pytest.approx(2.0) and phase.sigma_b.value == pytest.approx(0.5)
    assert list(phase.artists.marker.get_xdata()) == [phase.sigma_w.value]


def test_the_summary_prints_the_theory_edge_and_the_grid_crossing(phase):
    phase.activation.value = "tanh"
    phase.sigma_b.value, phase.sigma_w.value = 0.3, 1.5
    theory_edge = float(theory.critical_sigma_w(0.3, "tanh"))
    assert f"σ_w = {theory_edge:.3f} by mean-field theory" in phase.summary.value
    grid_edge = phase.diagrams["tanh"].measured_edge(0.3)
    if np.isfinite(grid_edge):
        assert f"crosses 0 (factor 1) at σ_w ≈ {grid_edge:.2f}" in phase.summary.value
    else:
        assert "does not cross 0" in phase.summary.value


def test_cells_without_a_finite_gain_are_grey_and_named_in_the_legend(phase):
    phase.activation.value = "relu"  # sigma_w = 0.25 column: the signal underflows to 0
    image = phase.image
    bad = image.get_cmap().get_bad()
    assert matplotlib.colors.same_color(bad, PhaseDiagramExplorer.NOT_FINITE)
    white = image.get_cmap()(0.5)  # ln gain 0, the edge
    assert not matplotlib.colors.same_color(bad, white)
    labels = [t.get_text() for t in image.axes.get_legend().get_texts()]
    assert any("no finite gain" in label for label in labels)
    assert "ln(gain per layer)" in image.colorbar.ax.get_ylabel()


def test_critical_band_is_the_power_law_factor_at_the_critical_point():
    assert 1 - critical_band(50) == pytest.approx(50 ** (-1 / 98))
    assert critical_band(200) < critical_band(50) < critical_band(10)


@pytest.mark.parametrize("measured, sigma_w, side, by_theory", [
    (0.95, 1.00, "ordered (vanishing) side", "puts it on the edge"),  # tanh at (1, 0)
    (0.98, 1.05, "on the edge, as far as depth 50 resolves", "puts it on the chaotic side"),
    (1.19, 2.00, "chaotic (exploding) side", "puts it on the chaotic side"),
    (0.49, 0.50, "ordered (vanishing) side", "puts it on the ordered side"),
])
def test_the_summary_names_the_side_by_the_measured_factor_and_by_theory(
        measured, sigma_w, side, by_theory):
    text = phase_summary("tanh", sigma_w, 0.0, measured, 1.0, 1.0, 1.14, 50)
    assert side in text and f"mean-field theory {by_theory}" in text
    assert f"multiplied by {measured:.2f}" in text


def test_isometry_summary_prints_the_gap_and_decade_ticks():
    ex = IsometryExplorer(depth=12, width=8, max_depth=12, activation="tanh")
    for init in ex.INITS:
        values = ex.spectra[("tanh", init)].at(12)
        assert f"largest/smallest {values[0] / values[-1]:.2g}" in ex.summary.value
    ticks = ex.artists.extremes["gaussian"][0].axes.yaxis.get_major_locator()()
    exponents = np.log10(ticks)
    np.testing.assert_allclose(exponents, np.round(exponents))
    assert len(set(np.diff(exponents).round(6))) <= 1


def test_draw_fix_keeps_one_colour_per_model_and_dashes_for_init_against_trained():
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from gradviz.plots import draw_fix

    steps = np.linspace(1.0, 0.1, 20)
    logs = {name: SimpleNamespace(loss=np.stack([steps * k, steps * k * 1.1]),
                                  test_loss=np.stack([steps * k, steps * k]),
                                  test_accuracy=None, accuracy=None)
            for k, name in ((1.0, "vanilla"), (0.5, "gru"))}
    flows = {f"{cell} {when}": SimpleNamespace(signal_norm=np.geomspace(1e-6, 1.0, 10) * k)
             for cell in logs for when, k in (("at init", 1.0), ("trained", 2.0))}
    fig, axes = plt.subplots(1, 3)
    draw_fix(axes, flows, logs, xlabel="time step t", flow_title="at init and trained",
             flow_styles={f"{cell} {when}": (cell, dashes) for cell in logs
                          for when, dashes in (("at init", "--"), ("trained", "-"))})
    flow_lines = {line.get_label(): line for line in axes[0].get_lines()}
    for ax in axes[1:]:
        curves = {line.get_label(): line for line in ax.get_lines()}
        for cell in logs:
            for when in ("at init", "trained"):
                assert matplotlib.colors.same_color(flow_lines[f"{cell} {when}"].get_color(),
                                                    curves[cell].get_color())
    assert flow_lines["gru at init"].get_linestyle() == "--"
    assert flow_lines["gru trained"].get_linestyle() == "-"
    assert not matplotlib.colors.same_color(curves["gru"].get_color(),
                                            curves["vanilla"].get_color())
    assert curves["gru"].get_linestyle() != curves["vanilla"].get_linestyle()
    assert axes[0].get_title() == "at init and trained"
    assert axes[1].get_legend() is not None  # the loss panel names the models
    plt.close(fig)
