"""RNNExplorer: the gradient through time of a vanilla RNN or GRU."""

import ipywidgets as widgets
import jax
import numpy as np

from gradviz.data import adding_problem
from gradviz.experiments import rnn_flow_at_init, rnn_lag_map
from gradviz.plots.rnn import draw_rnn, update_lag_map, update_rnn
from gradviz.rnn import RNN_CELLS
from gradviz.summaries import rnn_summary
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, STYLE, Explorer


class RNNExplorer(Explorer):
    """The gradient through time of a vanilla RNN or GRU on adding-problem sequences.

    Left: ||dL/dh_t|| for every step t (the loss is at the last step). Right: how much
    h_T depends on h_t, ||dh_T/dh_t||, against the lag T - t, for a range of recurrent
    scales (rows; gradviz.experiments.rnn_lag_map); the dashed line marks the current
    scale.
    """

    SCALES = np.round(np.linspace(0.2, 2.0, 19), 2)

    def __init__(self, cell="vanilla", recurrent_scale=0.9, length=50, update_gate_bias=0.0,
                 hidden=32, max_length=100, seed=0):
        check_choice("cell", cell, RNN_CELLS)
        check_float_range("recurrent scale", recurrent_scale, self.SCALES[0], self.SCALES[-1])
        check_int_range("max_length", max_length, 2, 1000)
        check_int_range("length", length, 2, max_length)
        check_float_range("update-gate bias", update_gate_bias, -2.0, 6.0)
        super().__init__(figsize=(COLUMN_WIDTH, 3.3))
        key = jax.random.PRNGKey(seed)
        self.xs, self.y = adding_problem(key, 16, max_length)
        self.key, self.hidden = key, hidden
        self.cell = widgets.ToggleButtons(options=RNN_CELLS, value=cell, description="cell")
        self.recurrent_scale = widgets.FloatSlider(
            recurrent_scale, min=float(self.SCALES[0]), max=float(self.SCALES[-1]), step=0.05,
            description="recurrent scale", style=STYLE)
        self.length = widgets.IntSlider(length, 2, max_length, description="sequence length",
                                        style=STYLE)
        self.update_gate_bias = widgets.FloatSlider(
            update_gate_bias, min=-2.0, max=6.0, step=0.25, description="GRU update-gate bias",
            style=STYLE)
        self.controls = [self.cell, self.recurrent_scale, self.length, self.update_gate_bias]
        self.artists = draw_rnn(self.fig.subplots(1, 2), self.SCALES, max_length)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in (self.cell, self.update_gate_bias):
            control.observe(self._on_cell_change, names="value")
        for control in (self.recurrent_scale, self.length):
            control.observe(self.update, names="value")
        self._on_cell_change()

    def _on_cell_change(self, change=None) -> None:
        """New cell or gate bias: recompute the lag map for every scale (one vmapped call)."""
        self.update_gate_bias.disabled = self.cell.value != "gru"
        self.lag_map = rnn_lag_map(self.key, self.xs[:4], self.SCALES, cell=self.cell.value,
                                   hidden=self.hidden,
                                   update_gate_bias=self.update_gate_bias.value)
        update_lag_map(self.artists, self.lag_map)
        self.update()

    def update(self, change=None) -> None:
        """Recompute the gradient through time; redraw in place."""
        self.stats = rnn_flow_at_init(
            self.key, self.xs, self.y, cell=self.cell.value, hidden=self.hidden,
            recurrent_scale=self.recurrent_scale.value,
            update_gate_bias=self.update_gate_bias.value, length=self.length.value)
        update_rnn(self.artists, self.stats, self.recurrent_scale.value, self.cell.value,
                   self.update_gate_bias.value)
        self.summary.value = rnn_summary(self.stats, self.cell.value,
                                         self.recurrent_scale.value)
        self.redraw()
