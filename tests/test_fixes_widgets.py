"""Chapter 3's explorers driven from Python: set a control, check what the figure shows,
and that nothing compiles once warm."""

import jax
import matplotlib
import numpy as np
import pytest

import gradviz as gv
from gradviz import theory
from gradviz.compiles import count_compiles
from gradviz.flow import jacobian_spectra, scale_mlp
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
        sigma_bs = phase.critical_line.get_ydata()
        assert sigma_bs[0] == diagram.sigma_b[0] and sigma_bs[-1] == diagram.sigma_b[-1]
        assert len(sigma_bs) > 4 * len(diagram.sigma_b)  # a smooth curve, not the map's rows
        np.testing.assert_allclose(phase.critical_line.get_xdata(),
                                   theory.critical_sigma_w(sigma_bs, name), rtol=1e-6)
    assert phase.diagrams["tanh"].log_gain.shape == (4, 6)


def test_moving_the_point_redraws_its_flow_without_compiling(phase):
    phase.sigma_w.value, phase.sigma_b.value = 1.3, 0.2  # warm-up
    phase.diagram("relu")  # each activation's grid is computed once, when first shown
    for sw, sb, name in [(0.6, 0.0, "tanh"), (2.5, 1.0, "relu"), (1.45, 0.35, "tanh")]:
        before = np.array(phase.signal_line.get_ydata())
        with count_compiles() as log:
            phase.activation.value = name
            phase.sigma_w.value, phase.sigma_b.value = sw, sb
        assert log.count == 0
        assert list(phase.marker.get_xdata()) == [sw] and list(phase.marker.get_ydata()) == [sb]
        want = gv.gradient_flow(scale_mlp(phase.unit, sw, sb), phase.data.x, phase.data.y, name)
        np.testing.assert_allclose(phase.signal_line.get_ydata(), want.signal_norm, rtol=1e-6)
        assert not np.allclose(before, phase.signal_line.get_ydata())
        assert f"σ_w = {sw:.2f}" in phase.summary.value
        predicted = theory.predicted_signal_profile(
            12, sw, sb, name, input_mean_square=phase.input_mean_square)
        np.testing.assert_allclose(phase.theory_line.get_ydata(),
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
            np.testing.assert_allclose(ex.lines[init].get_ydata(), want, rtol=1e-5)
        assert list(ex.depth_marker.get_xdata()) == [depth, depth]
        assert f"depth {depth}" in ex.summary.value
    ex.activation.value, ex.depth.value = "linear", 12
    np.testing.assert_allclose(ex.lines["orthogonal"].get_ydata(), 1.0, rtol=1e-4)


def test_a_click_on_the_map_moves_the_point(phase):
    from types import SimpleNamespace

    click = SimpleNamespace(inaxes=phase.image.axes, xdata=2.0, ydata=0.5)
    phase._on_click(click)
    assert phase.sigma_w.value == pytest.approx(2.0) and phase.sigma_b.value == pytest.approx(0.5)
    assert list(phase.marker.get_xdata()) == [phase.sigma_w.value]


def test_the_summary_prints_the_theory_edge_and_the_grid_crossing(phase):
    phase.activation.value = "tanh"
    phase.sigma_b.value, phase.sigma_w.value = 0.3, 1.5
    theory_edge = float(theory.critical_sigma_w(0.3, "tanh"))
    assert f"σ_w = {theory_edge:.3f} by mean-field theory" in phase.summary.value
    grid_edge = phase.diagrams["tanh"].measured_edge(0.3)
    if np.isfinite(grid_edge):
        assert f"crosses 0 at σ_w ≈ {grid_edge:.2f}" in phase.summary.value
    else:
        assert "does not cross 0" in phase.summary.value
