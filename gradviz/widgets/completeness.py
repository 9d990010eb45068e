"""CompletenessExplorer: how fast each quadrature rule's integrated gradients reach completeness."""


import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from gradviz import attribution as _attribution
from gradviz.plots import (
    COLORS,
    draw_maps,
    few_ticks,
    update_maps,
)
from gradviz.summaries import (
    completeness_summary,
)
from gradviz.validate import check_int_range
from gradviz.widgets.base import STYLE, Explorer

RULE_STYLES = {"gauss-legendre": "-", "left": "--", "middle": "-.", "right": ":",
               "trapezoid": (0, (6, 2, 1, 2, 1, 2))}
RULE_MARKERS = {"gauss-legendre": "o", "left": "<", "middle": "s", "right": ">",
                "trapezoid": "^"}



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
        super().__init__(figsize=(10, 4.2))
        self.table, self.difference = _attribution.logit_convergence(
            params, x, target, activation, baseline, max_steps)
        self.errors = np.abs(np.asarray(self.table.delta))
        self.steps = widgets.IntSlider(n_steps, 1, max_steps, description="steps",
                                       style=STYLE)
        grid = self.fig.add_gridspec(2, 6)
        ax_err = self.fig.add_subplot(grid[:, :3])
        palette = [COLORS[c] for c in ("blue", "orange", "green", "vermillion", "purple")]
        for method, errors, color in zip(self.table.methods, self.errors, palette,
                                         strict=False):
            ax_err.loglog(self.table.n_steps, np.maximum(errors, 1e-17), color=color,
                          ls=RULE_STYLES.get(method, "-"), marker=RULE_MARKERS.get(method),
                          markevery=[n - 1 for n in (1, 2, 4, 8, 16, 32, 64, 128, 256)
                                     if n <= max_steps], ms=4, label=method)
        ax_err.set(xlabel="steps (gradient evaluations)", ylabel="|completeness error|",
                   title="Integrated gradients: completeness (float64)")
        ax_err.legend(fontsize=7)
        few_ticks(ax_err)
        powers = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= max_steps]
        ax_err.set_xticks(powers, [str(n) for n in powers])
        ax_err.xaxis.set_minor_locator(plt.NullLocator())
        self.marker = ax_err.axvline(n_steps, color="black", lw=1, ls="--")
        positions = [grid[0, 3], grid[0, 4], grid[0, 5], grid[1, 3], grid[1, 4]]
        map_axes = [self.fig.add_subplot(p) for p in positions]
        self.images = draw_maps(map_axes, self.panels(n_steps), self.table.methods,
                                ["signed"] * len(self.table.methods))
        bar_ax = self.fig.add_subplot(grid[1, 5])
        bar_ax.set_visible(False)
        self.colorbar = self.fig.colorbar(self.images[0], ax=bar_ax, fraction=0.5)
        self.colorbar.ax.tick_params(labelsize=7)
        self.colorbar.set_label("IG, one scale for all five", fontsize=7)
        self.fig.tight_layout()
        self.widget = self.layout([self.steps])
        self.steps.observe(self.update, names="value")
        self.update()

    def panels(self, n: int) -> list:
        return list(np.asarray(self.table.attributions[:, n - 1]))

    def update(self, change=None) -> None:
        """Show the maps and errors at the chosen number of steps."""
        n = self.steps.value
        panels = self.panels(n)
        update_maps(self.images, panels, ["signed"] * len(self.images))
        finite = [np.abs(p[np.isfinite(p)]) for p in panels]
        top = max((float(v.max()) for v in finite if v.size), default=1.0) or 1.0
        for image in self.images:  # one scale, so the rules' maps can be compared
            image.set_clim(-top, top)
        self.marker.set_xdata([n, n])
        self.summary.value = completeness_summary(n, self.difference, self.table.methods,
                                                  self.errors[:, n - 1])
        self.redraw()
