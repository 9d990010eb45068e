"""CompletenessExplorer: how fast each quadrature rule's integrated gradients reach completeness."""

import ipywidgets as widgets
import numpy as np

from gradviz.attribution import logit_convergence
from gradviz.plots.completeness import draw_completeness, update_completeness
from gradviz.summaries import completeness_summary
from gradviz.validate import check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, STYLE, Explorer


class CompletenessExplorer(Explorer):
    """How fast each quadrature rule's integrated gradients reach completeness.

    Left: |sum(IG) - (f(x) - f(baseline))| against the number of steps, for every rule
    (computed in float64 for 1..max_steps steps when the explorer is made, by
    `attribution.logit_convergence`). Right: the IG map of each rule at the chosen
    number of steps, all on one colour scale. The slider only selects.
    """

    def __init__(self, params, x, target, baseline=None, activation="tanh", n_steps=4,
                 max_steps=64):
        check_int_range("max_steps", max_steps, 2, 256)
        check_int_range("n_steps", n_steps, 1, max_steps)
        super().__init__(figsize=(COLUMN_WIDTH, 3.6))
        self.table, self.difference = logit_convergence(params, x, target, activation,
                                                        baseline, max_steps)
        self.errors = np.abs(np.asarray(self.table.delta))  # (rules, max_steps)
        self.steps = widgets.IntSlider(n_steps, 1, max_steps, description="steps",
                                       style=STYLE)
        grid = self.fig.add_gridspec(2, 6)
        ax_error = self.fig.add_subplot(grid[:, :3])
        map_axes = [self.fig.add_subplot(grid[row, col])
                    for row, col in ((0, 3), (0, 4), (0, 5), (1, 3), (1, 4))]
        self.artists = draw_completeness(ax_error, map_axes, self.fig.add_subplot(grid[1, 5]),
                                         self.table, n_steps)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.widget = self.layout([self.steps])
        self.steps.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Show the maps and errors at the chosen number of steps."""
        n = self.steps.value
        update_completeness(self.artists, self.table, n)
        self.summary.value = completeness_summary(n, self.difference, self.table.methods,
                                                  self.errors[:, n - 1])
        self.redraw()
