"""The attribution explorers driven from Python: set a control, check what the images
now show against gradviz.attribution called on its own, and that nothing compiled."""

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import gradviz as gv
from gradviz import attribution
from gradviz.compiles import count_compiles
from gradviz.widgets import AttributionExplorer, CompletenessExplorer

matplotlib.use("Agg")

DATA = gv.data.digits(40)
KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def explorer():
    models = {"tanh": (gv.init_mlp(KEY, 64, 16, 2, 10), "tanh"),
              "sigmoid": (gv.init_mlp(jax.random.PRNGKey(1), 64, 16, 3, 10), "sigmoid")}
    baselines = {"zeros": jnp.zeros(64), "black": DATA.x.min(axis=0)}
    return AttributionExplorer(models, DATA.x, DATA.y, baselines, n_steps=8)


def expected_panels(ex):
    """The five maps, computed directly with the explorer's settings."""
    params, activation = ex.models[ex.model.value]
    x = DATA.x[ex.example.value]
    target = int(jnp.argmax(gv.apply_mlp(params, x[None], activation)[0]))
    f = attribution.class_logit(params, target, activation)
    baseline = ex.baselines[ex.baseline.value]
    smooth_key = jax.random.split(ex.key, len(DATA.x))[ex.example.value]
    return [x, attribution.saliency(f, x), attribution.input_x_gradient(f, x),
            attribution.integrated_gradients(f, x, baseline, n_steps=8),
            attribution.smoothgrad(f, x, smooth_key)]


def assert_shows(ex):
    for image, want in zip(ex.images, expected_panels(ex), strict=True):
        np.testing.assert_allclose(image.get_array(), np.reshape(want, (8, 8)), rtol=1e-4,
                                   atol=1e-6)


@pytest.mark.parametrize("control, value", [("example", 7), ("baseline", "black"),
                                            ("model", "sigmoid"), ("example", 39),
                                            ("model", "tanh"), ("baseline", "zeros")])
def test_each_control_changes_the_images_without_compiling(explorer, control, value):
    ex = explorer
    before = [np.array(image.get_array()) for image in ex.images]
    fig, images = ex.fig, ex.images
    with count_compiles() as log:
        getattr(ex, control).value = value
    assert log.count == 0
    assert ex.fig is fig and ex.images is images and len(fig.axes) == 5  # never rebuilt
    assert_shows(ex)
    after = [np.array(image.get_array()) for image in ex.images]
    changed = [not np.allclose(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed[1:])  # the maps moved with the control
    assert f"Label {int(DATA.y[ex.example.value])}" in ex.summary.value


def test_summary_prints_the_completeness_error_only_where_float32_resolves_it():
    from gradviz.widgets import COMPLETENESS_RESOLUTION, attribution_summary

    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    maps = attribution.attribution_maps(params, DATA.x[:2], jnp.array([3, 3]), KEY, "tanh")
    one = jax.tree.map(lambda a: a[:1], maps)
    logit = abs(float(one.logit[0]))
    rounding = one._replace(completeness_delta=one.completeness_delta * 0 + 1e-7)
    assert "complete to float32 rounding" in attribution_summary(rounding, 3, "zeros")
    assert "1e-07" not in attribution_summary(rounding, 3, "zeros")
    off = one._replace(completeness_delta=one.completeness_delta * 0
                       + 10 * COMPLETENESS_RESOLUTION * max(1.0, logit))
    assert "misses completeness by" in attribution_summary(off, 3, "zeros")


def test_signed_maps_have_symmetric_colour_limits(explorer):
    for image, kind in zip(explorer.images, ("input", "magnitude", "signed", "signed",
                                             "signed"), strict=True):
        low, high = image.get_clim()
        data = np.abs(np.asarray(image.get_array()))
        if kind == "signed":
            assert low == -high and high == pytest.approx(data.max())
        elif kind == "magnitude":
            assert low == 0


def test_completeness_explorer_shows_each_rule_at_the_chosen_steps():
    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    x = DATA.x[3]
    ex = CompletenessExplorer(params, x, target=4, n_steps=4, max_steps=16)
    lines = ex.marker.axes.get_lines()
    with count_compiles() as log:
        ex.steps.value = 9
    assert log.count == 0
    assert ex.marker.get_xdata()[0] == 9
    f = attribution.class_logit(params, 4, "tanh")
    for image, method in zip(ex.images, ex.table.methods, strict=True):
        want = attribution.integrated_gradients(f, x, n_steps=9, method=method)
        np.testing.assert_allclose(image.get_array(), np.reshape(want, (8, 8)), rtol=1e-3,
                                   atol=1e-5)
    # the error curves are the completeness errors, one line per rule
    middle = lines[ex.table.methods.index("middle")]
    ig = attribution.integrated_gradients(f, x, n_steps=9, method="middle")
    error = abs(float(attribution.completeness_delta(f, ig, x)))
    assert middle.get_ydata()[8] == pytest.approx(error, rel=0.05, abs=1e-7)
    assert "9 steps" in ex.summary.value and "trapezoid" in ex.summary.value
    ex.steps.value = 1
    assert "trapezoid undefined" in ex.summary.value  # the trapezoid needs two points
