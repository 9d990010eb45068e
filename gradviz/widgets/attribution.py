"""AttributionExplorer: a digit and four gradient attributions."""


import ipywidgets as widgets
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from gradviz import attribution as _attribution
from gradviz.plots.maps import draw_maps, shared_tops, update_maps
from gradviz.summaries import (
    attribution_summary,
)
from gradviz.validate import check_choice, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, STYLE, Explorer

MAP_TITLES = ("input", "saliency |df/dx|", "input × gradient", "integrated gradients",
              "SmoothGrad")
MAP_KINDS = ("input", "magnitude", "signed", "signed", "signed")


class AttributionExplorer(Explorer):
    """A digit and four gradient attributions of the logit of the class a model predicts.

    models: {name: (params, activation)} plain MLPs from gradviz.init_mlp; x: (n, 64)
    digit images, y: (n,) labels; baselines: {name: (64,) image shared by every example,
    or (n, 64) one per example} for integrated gradients. ink: optional function from a
    (64,) image to raw ink (0..16), to show the input panel as the digit on paper.
    Controls: model, example, baseline. The maps of all n examples are computed at once
    for each (model, baseline) pair, in float64 so that completeness can be checked
    even where f(x) - f(x') is tiny (one jitted call, compiled once per model shape and
    activation when the explorer is made); moving a control never compiles. Each map is
    drawn on its own scale (its colour bar).
    """

    def __init__(self, models: dict, x, y, baselines: dict, model=None, index=0,
                 baseline=None, n_steps=32, seed=0, ink=None):
        if not models or not baselines:
            raise ValueError("give at least one model and one baseline")
        model = next(iter(models)) if model is None else model
        baseline = next(iter(baselines)) if baseline is None else baseline
        check_choice("model", model, list(models))
        check_choice("baseline", baseline, list(baselines))
        check_int_range("example", index, 0, len(x) - 1)
        for name, image in baselines.items():
            if np.shape(image) not in (np.shape(x)[1:], np.shape(x)):
                raise ValueError(f"baseline {name!r} must have shape {np.shape(x)[1:]} or "
                                 f"{np.shape(x)}, got {np.shape(image)}")
        super().__init__(figsize=(COLUMN_WIDTH, 2.1))
        self.models, self.x, self.y, self.baselines = models, x, y, baselines
        self.n_steps, self.key, self.ink = n_steps, jax.random.PRNGKey(seed), ink
        self.kinds = (("ink",) if ink is not None else ("input",)) + MAP_KINDS[1:]
        self._cache = {}
        style = STYLE
        self.model = widgets.Dropdown(options=list(models), value=model, description="model")
        self.example = widgets.IntSlider(index, 0, len(x) - 1, description="example",
                                         style=style)
        self.baseline = widgets.Dropdown(options=list(baselines), value=baseline,
                                         description="IG baseline", style=style)
        self.controls = [self.model, self.example, self.baseline]
        for name in models:  # compile each model now, not on a control change
            self.compute(name, baseline)
        axes = self.fig.subplots(1, 5)
        titles = (("input (ink)",) if ink is not None else MAP_TITLES[:1]) + MAP_TITLES[1:]
        self.images = draw_maps(axes, self.panels(), titles, self.kinds, colorbar=True)
        self.animate(self.images)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    def compute(self, model: str, baseline: str) -> _attribution.AttributionMaps:
        """The attributions of every example for the class `model` predicts (cached)."""
        if (model, baseline) not in self._cache:
            params, activation = self.models[model]
            target = jnp.argmax(_attribution.class_logits(params, self.x, activation), axis=-1)
            self._cache[model, baseline] = _attribution.attribution_maps_float64(
                params, self.x, target, self.key, activation, self.baselines[baseline],
                self.n_steps)
        return self._cache[model, baseline]

    @property
    def maps(self) -> _attribution.AttributionMaps:
        """The maps of the current example (each with a batch axis of 1)."""
        i = self.example.value
        every = self.compute(self.model.value, self.baseline.value)
        return jax.tree.map(lambda a: a[i : i + 1], every)

    def panels(self, m=None) -> list:
        """The five images shown: the input (as ink if `ink` was given) and the four maps
        m (default: self.maps) of the current example."""
        m = self.maps if m is None else m
        image = self.x[self.example.value]
        image = image if self.ink is None else self.ink(image)
        return [image, m.saliency[0], m.input_x_gradient[0], m.integrated_gradients[0],
                m.smoothgrad[0]]

    def update(self, change=None) -> None:
        """Show the maps for the controls' values; redraw the images in place."""
        maps, every = self.maps, self.compute(self.model.value, self.baseline.value)
        # each kind of map on one colour scale for all examples: maps compare across
        # examples, and a step of the slider redraws only the images
        tops = [1.0, *shared_tops([every.saliency, every.input_x_gradient,
                                   every.integrated_gradients, every.smoothgrad])]
        update_maps(self.images, self.panels(maps), self.kinds, tops=tops)
        self.summary.value = attribution_summary(
            maps, self.y[self.example.value], self.baseline.value)
        self.redraw()
