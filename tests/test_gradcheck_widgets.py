"""The step-size explorer driven from Python: set a control, check what the figure shows."""

import matplotlib
import numpy as np
import pytest

from gradviz.compiles import count_compiles
from gradviz.examples import two_layer_example, two_layer_loss
from gradviz.gradcheck import BANDS, step_size_sweep
from gradviz.widgets import StepSizeExplorer

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def explorer():
    return StepSizeExplorer(eps=1e-5, dtype="float64")


def test_the_curves_are_the_sweeps(explorer):
    import jax

    params, x, y = two_layer_example(jax.random.PRNGKey(0))
    for dtype, line in explorer.artists.curves.items():
        want = step_size_sweep(two_layer_loss, params, x, y, eps_values=explorer.EPS,
                               dtype=dtype)
        np.testing.assert_allclose(line.get_xdata(), explorer.EPS)
        np.testing.assert_allclose(line.get_ydata(), np.maximum(want.error, 1e-17), rtol=1e-6)


def test_moving_the_slider_moves_the_marker_without_compiling(explorer):
    sweep = explorer.sweeps["float64"]
    with count_compiles() as log:
        explorer.eps.value = int(np.argmin(np.abs(np.log10(explorer.EPS) + 9)))  # eps 1e-9
        x, y = explorer.artists.marker.get_data()
        assert x[0] == pytest.approx(1e-9)
        assert y[0] == pytest.approx(sweep.error[explorer.eps.value])
        assert "round-off rules" in explorer.summary.value
        explorer.eps.value = len(explorer.EPS) - 1  # eps 1
        assert explorer.artists.marker.get_data()[0][0] == pytest.approx(1.0)
        assert "truncation rules" in explorer.summary.value
        explorer.dtype.value = "float32"
        assert explorer.artists.good_line.get_ydata()[0] == BANDS["float32"][0]
        curves = explorer.artists.curves
        assert curves["float32"].get_linewidth() > curves["float64"].get_linewidth()
        assert explorer.artists.marker.get_data()[1][0] == pytest.approx(
            explorer.sweeps["float32"].error[-1])
        explorer.eps.value = int(np.argmin(explorer.sweeps["float32"].error))
        assert "the best step" in explorer.summary.value
    assert log.count == 0
    explorer.dtype.value, explorer.eps.value = "float64", 28


def test_float32_is_worse_at_its_best_than_float64(explorer):
    assert explorer.sweeps["float32"].best_error > 1e3 * explorer.sweeps["float64"].best_error
    assert explorer.sweeps["float32"].best_eps > explorer.sweeps["float64"].best_eps


def test_bad_explorer_input_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"eps must be in \[1e-12, 1.0\], got 10.0"):
        StepSizeExplorer(eps=10.0)
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        StepSizeExplorer(dtype="float16")
