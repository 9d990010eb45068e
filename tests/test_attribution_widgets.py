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
    baselines = {"zeros": jnp.zeros(64), "black": DATA.x.min(axis=0),
                 "each digit's blur": jax.vmap(
                     lambda v: attribution.gaussian_blur(v.reshape(8, 8), 1.5).ravel())(DATA.x)}
    return AttributionExplorer(models, DATA.x, DATA.y, baselines, n_steps=8, ink=ink)


def ink(v):
    return 8 + 4 * np.asarray(v)  # any map to 0..16 will do


def expected_panels(ex):
    """The five maps, computed directly (in float64) with the explorer's settings."""
    params, activation = ex.models[ex.model.value]
    i = ex.example.value
    x = DATA.x[i]
    target = int(jnp.argmax(gv.apply_mlp(params, x[None], activation)[0]))
    baseline = ex.baselines[ex.baseline.value]
    baseline = baseline[i] if np.ndim(baseline) == 2 else baseline
    smooth_key = jax.random.split(ex.key, len(DATA.x))[i]
    with jax.enable_x64(True):
        as64 = lambda a: jnp.asarray(a, jnp.float64)  # noqa: E731
        f = attribution.class_logit(jax.tree.map(as64, params), target, activation)
        x64 = as64(x)
        return [ink(x), attribution.saliency(f, x64), attribution.input_x_gradient(f, x64),
                attribution.integrated_gradients(f, x64, as64(baseline), n_steps=8),
                attribution.smoothgrad(f, x64, smooth_key)]


def assert_shows(ex):
    for image, want in zip(ex.images, expected_panels(ex), strict=True):
        np.testing.assert_allclose(image.get_array(), np.reshape(want, (8, 8)), rtol=1e-9,
                                   atol=1e-12)


def test_the_input_panel_shows_ink_on_a_fixed_scale(explorer):
    assert explorer.images[0].get_clim() == (0.0, 16.0)  # blank paper white, full ink black


@pytest.mark.parametrize("control, value", [("example", 7), ("baseline", "black"),
                                            ("model", "sigmoid"), ("example", 39),
                                            ("baseline", "each digit's blur"),
                                            ("example", 3), ("model", "tanh"),
                                            ("baseline", "zeros")])
def test_each_control_changes_the_images_without_compiling(explorer, control, value):
    ex = explorer
    before = [np.array(image.get_array()) for image in ex.images]
    fig, images = ex.fig, ex.images
    with count_compiles() as log:
        getattr(ex, control).value = value
    assert log.count == 0
    assert ex.fig is fig and ex.images is images and len(fig.axes) == 10  # maps + colour bars
    assert_shows(ex)
    after = [np.array(image.get_array()) for image in ex.images]
    changed = [not np.allclose(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed[1:])  # the maps moved with the control
    assert f"Label {int(DATA.y[ex.example.value])}" in ex.summary.value


def test_summary_measures_completeness_against_f_x_minus_f_baseline():
    from gradviz.summaries import COMPLETENESS_RESOLUTION, attribution_summary

    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    one = attribution.attribution_maps_float64(params, DATA.x[:1], jnp.array([3]), KEY,
                                               "tanh")
    difference = float(one.integrated_gradients.sum() - one.completeness_delta[0])
    text = attribution_summary(one, 3, "zeros")
    assert f"adds up to f(x) - f(x') = {difference:.3g}" in text
    # a tiny f(x) - f(x') (a network whose output hardly moves): still judged relative to it
    tiny = one._replace(integrated_gradients=one.integrated_gradients * 1e-6,
                        completeness_delta=one.completeness_delta * 0)
    assert f"= {1e-6 * difference:.3g} (error below" in attribution_summary(tiny, 3, "zeros")
    off = tiny._replace(completeness_delta=tiny.completeness_delta * 0
                        + 10 * COMPLETENESS_RESOLUTION * 1e-6 * difference)
    assert "misses f(x) - f(x')" in attribution_summary(off, 3, "zeros")
    assert "by 1e-06 of it" in attribution_summary(off, 3, "zeros")
    nothing = one._replace(integrated_gradients=one.integrated_gradients * 0,
                           completeness_delta=one.completeness_delta * 0)
    assert "nothing to attribute" in attribution_summary(nothing, 3, "zeros")


def test_each_kind_of_map_has_one_colour_scale_for_every_example(explorer):
    every = explorer.compute(explorer.model.value, explorer.baseline.value)
    batches = (every.saliency, every.input_x_gradient, every.integrated_gradients,
               every.smoothgrad)
    limits = []
    for index in (0, 1):
        explorer.example.value = index
        limits.append([image.get_clim() for image in explorer.images])
        for image, kind, batch in zip(explorer.images[1:], ("magnitude", "signed", "signed",
                                                            "signed"), batches, strict=True):
            low, high = image.get_clim()
            largest = float(np.abs(np.asarray(batch)).max())  # over every example
            assert largest <= high <= 2 * largest  # rounded up to one significant digit
            assert f"{high:.10g}" == f"{float(f'{high:.1g}'):.10g}"
            assert low == (0 if kind == "magnitude" else -high)
    assert limits[0] == limits[1]  # the scale stays when the example changes
    explorer.example.value = 0


def test_completeness_explorer_shows_each_rule_at_the_chosen_steps():
    params = gv.init_mlp(KEY, 64, 16, 2, 10)
    x = DATA.x[3]
    ex = CompletenessExplorer(params, x, target=4, n_steps=4, max_steps=16)
    lines = ex.artists.marker.axes.get_lines()
    with count_compiles() as log:
        ex.steps.value = 9
    assert log.count == 0
    assert ex.artists.marker.get_xdata()[0] == 9
    f = attribution.class_logit(params, 4, "tanh")
    for image, method in zip(ex.artists.images, ex.table.methods, strict=True):
        want = attribution.integrated_gradients(f, x, n_steps=9, method=method)
        np.testing.assert_allclose(image.get_array(), np.reshape(want, (8, 8)), rtol=1e-3,
                                   atol=1e-5)
    # the error curves are the completeness errors, one line per rule
    middle = lines[ex.table.methods.index("middle")]
    ig = attribution.integrated_gradients(f, x, n_steps=9, method="middle")
    error = abs(float(attribution.completeness_delta(f, ig, x)))
    assert middle.get_ydata()[8] == pytest.approx(error, rel=0.05, abs=1e-7)
    assert "9 steps" in ex.summary.value and "trapezoid" in ex.summary.value
    lows = {image.get_clim()[0] for image in ex.artists.images}
    assert len(lows) == 1  # one colour scale for the five rules' maps
    labels = [t.get_text() for t in ex.artists.marker.axes.get_xticklabels()]
    assert labels[:5] == ["1", "2", "4", "8", "16"]
    ex.steps.value = 16
    assert "gauss-legendre <" in ex.summary.value  # below float64 rounding: no digits
    ex.steps.value = 1
    assert "trapezoid undefined" in ex.summary.value  # the trapezoid needs two points
