"""FlowExplorer: the gradient flow of an MLP at initialisation, with sliders."""

import ipywidgets as widgets
import jax

from gradviz.activations import ACTIVATION_NAMES, activation_index
from gradviz.data import digits
from gradviz.experiments import FlowWithTheory, flow_with_theory
from gradviz.init import INIT_SCHEMES, init_index, sigma_w
from gradviz.models import init_mlp
from gradviz.plots.flow import draw_flow, gradient_legend, update_flow
from gradviz.summaries import flow_explorer_summary
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, MAX_DEPTH, STYLE, Explorer

MODELS = {  # name -> (residual, norm)
    "MLP": (False, "none"),
    "MLP + batch norm": (False, "batch"),
    "MLP + layer norm": (False, "layer"),
    "residual MLP": (True, "none"),
    "residual MLP + batch norm": (True, "batch"),
    "residual MLP + layer norm": (True, "layer"),
}
WIDTHS = (32, 64, 128, 256)


class FlowExplorer(Explorer):
    """Per-layer forward signal and gradient flow of an MLP at initialisation on 256
    digit images, with sliders.

    Controls: model, depth (1-64), width, activation, init scheme, init scale 0.1-15 (gain
    on the scheme's std; sigma_w is shown; up to 15, so that a Gaussian-initialised sigmoid
    net can pass its critical sigma_w of about 10), bias scale sigma_b, and a log/linear
    axis. Layers whose values are inf/NaN are drawn as a hatched band, and the summary says
    where inf/NaN appeared.
    """

    def __init__(self, depth=30, width=128, activation="sigmoid", init="xavier", scale=1.0,
                 bias_scale=0.0, model="MLP", seed=0, n_examples=256):
        check_int_range("depth", depth, 1, MAX_DEPTH)
        check_choice("width", width, WIDTHS)
        check_choice("model", model, list(MODELS))
        activation_index(activation)  # a ValueError listing the valid names
        init_index(init)
        check_float_range("init scale", scale, 0.1, 15.0)
        check_float_range("bias scale", bias_scale, 0.0, 2.0)
        super().__init__(figsize=(COLUMN_WIDTH, 5.6))
        self.data = digits(n_examples)
        self.key = jax.random.PRNGKey(seed)
        style = STYLE
        self.model = widgets.Dropdown(options=list(MODELS), value=model, description="model")
        self.depth = widgets.IntSlider(depth, 1, MAX_DEPTH, description="depth", style=style)
        self.width = widgets.Dropdown(options=WIDTHS, value=width, description="width")
        self.activation = widgets.Dropdown(options=ACTIVATION_NAMES, value=activation,
                                           description="activation")
        self.init = widgets.Dropdown(options=INIT_SCHEMES, value=init, description="init")
        self.scale = widgets.FloatSlider(scale, min=0.1, max=15.0, step=0.05,
                                         description="init scale", style=style)
        self.bias_scale = widgets.FloatSlider(bias_scale, min=0.0, max=2.0, step=0.05,
                                              description="bias scale σ_b", style=style)
        self.yscale = widgets.ToggleButtons(options=["log", "linear"], value="log",
                                            description="gradient axis", style=style)
        self.controls = [self.model, self.depth, self.width, self.activation, self.init,
                         self.scale, self.bias_scale, self.yscale]
        axes = self.fig.subplots(2, 2, sharex=True).ravel()
        self._new_params()
        self.point = self._flow()
        self.stats = self.point.stats
        self.artists = draw_flow(axes, self.stats, self.point.predicted_signal)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.suptitle(f"At initialisation: one forward and backward pass on "
                          f"{n_examples} digit images", fontsize=10)
        self.fig.tight_layout()
        margins = self.fig.subplotpars  # room for wider tick labels (3x10^-1) later on
        self.fig.subplots_adjust(left=margins.left + 0.03, wspace=margins.wspace + 0.1)
        self.widget = self.layout(self.controls)
        for control in (self.width, self.init, self.scale, self.bias_scale):
            control.observe(self._on_params_change, names="value")
        for control in (self.model, self.depth, self.activation, self.yscale):
            control.observe(self.update, names="value")
        self.update()

    def _new_params(self) -> None:
        self.params = init_mlp(self.key, self.data.x.shape[1], self.width.value, MAX_DEPTH, 10,
                               init=self.init.value, scale=self.scale.value,
                               bias_scale=self.bias_scale.value)

    def _on_params_change(self, change=None) -> None:
        self._new_params()
        self.update()

    @property
    def sigma_w(self) -> float:
        """The effective sigma_w of the hidden layers (fan_in * Var(W_ij) = sigma_w^2)."""
        width = self.width.value
        return sigma_w(self.init.value, self.scale.value, width, width)

    def _flow(self) -> FlowWithTheory:
        residual, norm = MODELS[self.model.value]
        return flow_with_theory(self.params, self.data.x, self.data.y,
                                activation=self.activation.value, residual=residual, norm=norm,
                                depth=self.depth.value, sigma_w=self.sigma_w,
                                sigma_b=self.bias_scale.value)

    def _name_the_prediction_only_when_drawn(self) -> None:
        """A new gradient legend when the mean-field line appears or goes (it is drawn for
        plain MLPs only), pinned in the old one's place: its new texts make the next
        redraw a full one."""
        ax = self.artists.signal.axes
        old = ax.get_legend()
        with_theory = self.point.predicted_signal is not None
        named = self.artists.theory.get_label() in [text.get_text() for text in old.get_texts()]
        if named == with_theory:
            return
        new = gradient_legend(self.artists, with_theory)
        self.pinned = [new if legend is old else legend for legend in self.pinned]

    def update(self, change=None) -> None:
        """Recompute the flow for the controls' values and redraw the artists in place."""
        self.point = self._flow()
        self.stats = self.point.stats
        update_flow(self.artists, self.stats, self.point.predicted_signal, self.yscale.value)
        self._name_the_prediction_only_when_drawn()
        self.summary.value = flow_explorer_summary(
            self.stats, self.point.predicted_gain, self.point.predicted_signal, self.sigma_w,
            self.bias_scale.value)
        self.redraw()
