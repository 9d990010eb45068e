"""PhaseDiagramExplorer: the edge of chaos, measured."""


import ipywidgets as widgets
import jax
import jax.flatten_util
import matplotlib
import numpy as np
from matplotlib.patches import Patch

from gradviz import theory
from gradviz.data import digits
from gradviz.flow import gradient_flow
from gradviz.models import init_mlp
from gradviz.phase import phase_diagram, scale_mlp
from gradviz.plots import (
    COLORS,
    few_ticks,
    finite_or_nan,
    fit_log_ticks,
    rescale,
)
from gradviz.summaries import (
    gain_per_layer,
    phase_summary,
)
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import MAX_DEPTH, STYLE, Explorer


class PhaseDiagramExplorer(Explorer):
    """The edge of chaos, measured: a heat map of the log gain per layer of the
    backpropagated signal over a (sigma_w, sigma_b) grid of MLPs at initialisation,
    mean-field theory's critical line on top, and the chosen point's gradient flow.

    The grid is computed once per activation, the first time it is shown (one vmapped
    pass, gradviz.phase.phase_diagram; `diagram(name)`); moving the sliders (or clicking
    the map, with ipympl) moves the marker and recomputes one gradient flow: nothing
    recompiles.
    """

    ACTIVATIONS = ("tanh", "relu")
    NOT_FINITE = "0.45"  # the map's grey for cells without a finite gain

    def __init__(self, activation="tanh", sigma_w=1.0, sigma_b=0.0, depth=30, width=64,
                 n_w=24, n_b=16, n_examples=64, seed=0):
        check_choice("activation", activation, self.ACTIVATIONS)
        check_float_range("sigma_w", sigma_w, 0.25, 4.0)
        check_float_range("sigma_b", sigma_b, 0.0, 1.5)
        check_int_range("depth", depth, 2, MAX_DEPTH)
        check_int_range("n_w", n_w, 2, 200)
        check_int_range("n_b", n_b, 2, 200)
        super().__init__(figsize=(10, 3.8))
        self.data = digits(n_examples)
        self.unit = init_mlp(jax.random.PRNGKey(seed), self.data.x.shape[1], width, depth, 10,
                             init="gaussian", scale=1.0, bias_scale=1.0)
        sigma_ws, sigma_bs = np.linspace(0.25, 4.0, n_w), np.linspace(0.0, 1.5, n_b)
        self.grid = (sigma_ws, sigma_bs)
        self.diagrams = {}  # activation -> PhaseDiagram, filled by diagram()
        self.input_mean_square = float(np.mean(np.square(self.data.x)))
        style = STYLE
        self.activation = widgets.ToggleButtons(options=self.ACTIVATIONS, value=activation,
                                                description="activation")
        self.sigma_w = widgets.FloatSlider(sigma_w, min=0.25, max=4.0, step=0.05,
                                           description="σ_w", style=style)
        self.sigma_b = widgets.FloatSlider(sigma_b, min=0.0, max=1.5, step=0.05,
                                           description="σ_b", style=style)
        self.controls = [self.activation, self.sigma_w, self.sigma_b]
        ax_map, ax_flow = self.fig.subplots(1, 2)
        step_w, step_b = sigma_ws[1] - sigma_ws[0], sigma_bs[1] - sigma_bs[0]
        extent = (sigma_ws[0] - step_w / 2, sigma_ws[-1] + step_w / 2,
                  sigma_bs[0] - step_b / 2, sigma_bs[-1] + step_b / 2)
        # white is ln gain 0 (the edge): cells without a finite gain (the signal
        # underflowed to 0, or overflowed) get a grey of their own, named in the legend
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=self.NOT_FINITE)
        self.image = ax_map.imshow(np.zeros((n_b, n_w)), origin="lower", aspect="auto",
                                   extent=extent, cmap=cmap, vmin=-1.0, vmax=1.0)
        self.fig.colorbar(self.image, ax=ax_map,
                          label="ln(gain per layer); 0: factor 1")
        self.critical_line = ax_map.plot([], [], "k--", lw=1.5, label="theory: χ = 1")[0]
        self.marker = ax_map.plot([], [], "o", ms=9, mfc="none", mec="black", mew=2)[0]
        ax_map.set(xlabel="σ_w", ylabel="σ_b", xlim=extent[:2], ylim=extent[2:],
                   title=f"Signal growth going back, depth {depth}")
        not_finite = Patch(facecolor=self.NOT_FINITE, edgecolor="black", lw=0.5,
                           label="no finite gain (signal underflowed to 0)")
        ax_map.legend(handles=[self.critical_line, not_finite], fontsize=7, loc="upper left")
        self.signal_line = ax_flow.semilogy([], [], "o-", ms=3, color=COLORS["blue"],
                                            label="measured ||dL/dh_l||")[0]
        self.theory_line = ax_flow.semilogy([], [], "--", color=COLORS["black"], lw=1,
                                            label="mean-field prediction")[0]
        ax_flow.set(xlabel="layer l", ylabel="gradient norm", title="The chosen network")
        ax_flow.legend(fontsize=7, loc="upper left")
        for ax in (ax_map, ax_flow):
            few_ticks(ax)
        self.fig.tight_layout()
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
        self.image.set_data(finite_or_nan(diagram.log_gain))
        # the theory's line on a finer sigma_b grid than the map's rows: a smooth curve
        sigma_bs = np.linspace(diagram.sigma_b[0], diagram.sigma_b[-1], 61)
        critical = theory.critical_sigma_w(sigma_bs, diagram.activation)
        self.critical_line.set_data(np.asarray(critical), sigma_bs)
        self.update()

    def _on_click(self, event) -> None:
        """A click on the map (ipympl) moves the sliders there."""
        if event.inaxes is self.image.axes and event.xdata is not None:
            self.sigma_b.value = float(np.clip(event.ydata, 0.0, 1.5))
            self.sigma_w.value = float(np.clip(event.xdata, 0.25, 4.0))

    def flow(self):
        """The FlowStats of the chosen (activation, sigma_w, sigma_b)."""
        params = scale_mlp(self.unit, self.sigma_w.value, self.sigma_b.value)
        return gradient_flow(params, self.data.x, self.data.y, self.activation.value)

    def update(self, change=None) -> None:
        """Move the marker and redraw the chosen point's flow in place."""
        sw, sb, name = self.sigma_w.value, self.sigma_b.value, self.activation.value
        self.marker.set_data([sw], [sb])
        self.stats = self.flow()
        depth = len(self.stats.signal_norm)
        layers = np.arange(1, depth + 1)
        self.signal_line.set_data(layers, finite_or_nan(self.stats.signal_norm))
        predicted = theory.predicted_signal_profile(
            depth, sw, sb, name, input_mean_square=self.input_mean_square)
        self.theory_line.set_data(layers, np.asarray(predicted) * self.stats.signal_norm[-1])
        rescale(self.signal_line.axes)
        fit_log_ticks(self.signal_line.axes)
        critical = float(theory.critical_sigma_w(sb, name))
        grid_edge = self.diagram(name).measured_edge(sb)
        signal = self.stats.signal_norm
        measured = gain_per_layer(signal)
        gain = float(theory.signal_gain_per_layer(sw, sb, name))
        self.summary.value = phase_summary(name, sw, sb, measured, gain, critical, grid_edge,
                                           depth)
        self.redraw()
