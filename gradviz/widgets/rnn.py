"""RNNExplorer: the gradient through time of a vanilla RNN or GRU."""


import ipywidgets as widgets
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from gradviz.data import adding_problem
from gradviz.flow import (
    rnn_gradient_flow,
    stacked_hidden_jacobian_norms,
)
from gradviz.plots import (
    COLORS,
    few_ticks,
    finite_or_nan,
    rescale,
    span_two_decades,
)
from gradviz.rnn import RNN_CELLS, init_rnn
from gradviz.summaries import (
    overflow_message,
    rnn_summary,
)
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import STYLE, Explorer


class RNNExplorer(Explorer):
    """The gradient through time of a vanilla RNN or GRU on adding-problem sequences.

    Left: ||dL/dh_t|| for every step t (the loss is at the last step). Right: how much
    h_T depends on h_t, ||dh_T/dh_t||, against the lag T - t, for a range of recurrent
    scales (rows); the dashed line marks the current scale.
    """

    SCALES = np.round(np.linspace(0.2, 2.0, 19), 2)

    def __init__(self, cell="vanilla", recurrent_scale=0.9, length=50, update_gate_bias=0.0,
                 hidden=32, max_length=100, seed=0):
        check_choice("cell", cell, RNN_CELLS)
        check_float_range("recurrent scale", recurrent_scale, self.SCALES[0], self.SCALES[-1])
        check_int_range("max_length", max_length, 2, 1000)
        check_int_range("length", length, 2, max_length)
        check_float_range("update-gate bias", update_gate_bias, -2.0, 6.0)
        super().__init__(figsize=(9, 3.6))
        key = jax.random.PRNGKey(seed)
        self.xs, self.y = adding_problem(key, 16, max_length)
        self.key, self.hidden = key, hidden
        style = STYLE
        self.cell = widgets.ToggleButtons(options=RNN_CELLS, value=cell, description="cell")
        self.recurrent_scale = widgets.FloatSlider(
            recurrent_scale, min=float(self.SCALES[0]), max=float(self.SCALES[-1]), step=0.05,
            description="recurrent scale", style=style)
        self.length = widgets.IntSlider(length, 2, max_length, description="sequence length",
                                        style=style)
        self.update_gate_bias = widgets.FloatSlider(
            update_gate_bias, min=-2.0, max=6.0, step=0.25, description="GRU update-gate bias",
            style=style)
        self.controls = [self.cell, self.recurrent_scale, self.length, self.update_gate_bias]
        ax_time, ax_map = self.fig.subplots(1, 2)
        self.signal_line = ax_time.plot([], [], "o-", ms=2, color=COLORS["blue"])[0]
        ax_time.set(yscale="log", xlabel="time step t", ylabel="||dL/dh_t||",
                    title="Gradient through time")
        few_ticks(ax_time)
        self.overflow = ax_time.text(0.02, 0.04, "", transform=ax_time.transAxes,
                                     color=COLORS["vermillion"], fontweight="bold", fontsize=9)
        # diverging, centred on 1 (log10 = 0): blue decays with the lag, red grows
        self.image = ax_map.imshow(np.zeros((len(self.SCALES), max_length)), aspect="auto",
                                   origin="lower", cmap="RdBu_r", vmin=-8, vmax=8,
                                   extent=(-0.5, max_length - 0.5, 0, len(self.SCALES)))
        ax_map.set(xlabel="lag T - t", ylabel="recurrent scale",
                   title=f"log10 ||dh_T/dh_t|| per unit, T = {max_length}")
        ax_map.set_yticks(np.arange(len(self.SCALES))[::3] + 0.5, self.SCALES[::3])
        self.scale_line = ax_map.axhline(0, color="black", ls="--", lw=1)
        self.fig.colorbar(self.image, ax=ax_map, extend="both")
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in (self.cell, self.update_gate_bias):
            control.observe(self._on_cell_change, names="value")
        for control in (self.recurrent_scale, self.length):
            control.observe(self.update, names="value")
        self._on_cell_change()

    def _params(self, scale):
        return init_rnn(self.key, 2, self.hidden, 1, cell=self.cell.value,
                        recurrent_scale=scale, update_gate_bias=self.update_gate_bias.value)

    def _on_cell_change(self, change=None) -> None:
        """New cell or gate bias: recompute the lag map for every scale (one vmapped call)."""
        self.update_gate_bias.disabled = self.cell.value != "gru"
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *[self._params(float(s))
                                                          for s in self.SCALES])
        norms = stacked_hidden_jacobian_norms(stacked, self.xs[:4], "tanh")
        self.lag_map = norms[:, ::-1]  # (scales, lag)
        self.image.set_data(np.log10(np.maximum(self.lag_map, 1e-30)))
        self.update()

    def update(self, change=None) -> None:
        """Recompute the gradient through time; redraw in place."""
        length = self.length.value
        self.stats = rnn_gradient_flow(self._params(self.recurrent_scale.value), self.xs,
                                       self.y, length=length)
        steps = np.arange(1, length + 1)
        self.signal_line.set_data(steps, finite_or_nan(self.stats.signal_norm))
        rescale(self.signal_line.axes)
        span_two_decades(self.signal_line)
        self.overflow.set_text(overflow_message(self.stats, "step"))
        row = np.interp(self.recurrent_scale.value, self.SCALES, np.arange(len(self.SCALES)))
        self.scale_line.set_ydata([row + 0.5, row + 0.5])
        self.summary.value = rnn_summary(self.stats, self.cell.value,
                                         self.recurrent_scale.value)
        self.redraw()

