"""PhaseDiagramExplorer: the edge of chaos, measured."""

import ipywidgets as widgets
import jax
import numpy as np

from gradviz.data import digits
from gradviz.experiments import phase_point
from gradviz.models import init_mlp
from gradviz.phase import phase_diagram
from gradviz.plots.phase import NOT_FINITE, draw_phase, update_phase, update_phase_map
from gradviz.summaries import phase_summary
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, MAX_DEPTH, STYLE, Explorer


class PhaseDiagramExplorer(Explorer):
    """The edge of chaos, measured: a heat map of the log gain per layer of the
    backpropagated signal over a (sigma_w, sigma_b) grid of MLPs at initialisation,
    mean-field theory's critical line on top, and the chosen point's gradient flow.

    The grid is computed once per activation, the first time it is shown (one vmapped
    pass, gradviz.phase.phase_diagram; `diagram(name)`); moving the sliders (or clicking
    the map, with ipympl) moves the marker and recomputes one gradient flow
    (gradviz.experiments.phase_point): nothing recompiles.
    """

    ACTIVATIONS = ("tanh", "relu")
    NOT_FINITE = NOT_FINITE  # the map's grey for cells without a finite gain

    def __init__(self, activation="tanh", sigma_w=1.0, sigma_b=0.0, depth=30, width=64,
                 n_w=24, n_b=16, n_examples=64, seed=0):
        check_choice("activation", activation, self.ACTIVATIONS)
        check_float_range("sigma_w", sigma_w, 0.25, 4.0)
        check_float_range("sigma_b", sigma_b, 0.0, 1.5)
        check_int_range("depth", depth, 2, MAX_DEPTH)
        check_int_range("n_w", n_w, 2, 200)
        check_int_range("n_b", n_b, 2, 200)
        super().__init__(figsize=(COLUMN_WIDTH, 3.4))
        self.data = digits(n_examples)
        # unit weights and biases: scale_mlp turns them into any (sigma_w, sigma_b)
        self.unit = init_mlp(jax.random.PRNGKey(seed), self.data.x.shape[1], width, depth, 10,
                             init="gaussian", scale=1.0, bias_scale=1.0)
        self.grid = (np.linspace(0.25, 4.0, n_w), np.linspace(0.0, 1.5, n_b))
        self.diagrams = {}  # activation -> PhaseDiagram, filled by diagram()
        self.input_mean_square = float(np.mean(np.square(self.data.x)))
        self.activation = widgets.ToggleButtons(options=self.ACTIVATIONS, value=activation,
                                                description="activation")
        self.sigma_w = widgets.FloatSlider(sigma_w, min=0.25, max=4.0, step=0.05,
                                           description="σ_w", style=STYLE)
        self.sigma_b = widgets.FloatSlider(sigma_b, min=0.0, max=1.5, step=0.05,
                                           description="σ_b", style=STYLE)
        self.controls = [self.activation, self.sigma_w, self.sigma_b]
        self.artists = draw_phase(self.fig.subplots(1, 2), *self.grid, depth)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.image = self.artists.image
        self.fig.tight_layout(w_pad=3)  # room for the colour bar's label
        self.widget = self.layout(self.controls)
        self.activation.observe(self._on_activation, names="value")
        for control in (self.sigma_w, self.sigma_b):
            control.observe(self.update, names="value")
        self.fig.canvas.mpl_connect("button_press_event", self._on_click)
        self._on_activation()

    def diagram(self, activation: str):
        """The PhaseDiagram of `activation` on the explorer's grid, computed once."""
        if activation not in self.diagrams:
            self.diagrams[activation] = phase_diagram(self.unit, self.data.x, self.data.y,
                                                      *self.grid, activation)
        return self.diagrams[activation]

    def _on_activation(self, change=None) -> None:
        diagram = self.diagram(self.activation.value)
        update_phase_map(self.artists, diagram, diagram.critical_line())
        self.update()

    def _on_click(self, event) -> None:
        """A click on the map (ipympl) moves the sliders there."""
        if event.inaxes is self.image.axes and event.xdata is not None:
            self.sigma_b.value = float(np.clip(event.ydata, 0.0, 1.5))
            self.sigma_w.value = float(np.clip(event.xdata, 0.25, 4.0))

    def update(self, change=None) -> None:
        """Move the marker and redraw the chosen point's flow in place."""
        sw, sb, name = self.sigma_w.value, self.sigma_b.value, self.activation.value
        self.point = phase_point(self.unit, self.data.x, self.data.y, self.diagram(name),
                                 sw, sb)
        self.stats = self.point.stats
        update_phase(self.artists, self.point, sw, sb)
        p = self.point
        self.summary.value = phase_summary(name, sw, sb, p.measured_gain, p.predicted_gain,
                                           p.critical_sigma_w, p.grid_edge,
                                           len(p.stats.signal_norm))
        self.redraw()
