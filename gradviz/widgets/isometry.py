"""IsometryExplorer: dynamical isometry, Gaussian against orthogonal weights."""


import ipywidgets as widgets
import jax
import jax.flatten_util
import numpy as np

from gradviz.isometry import jacobian_spectra
from gradviz.plots import (
    COLORS,
    decade_ticks,
    few_ticks,
    finite_or_nan,
    rescale,
)
from gradviz.summaries import (
    isometry_summary,
)
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import STYLE, Explorer


class IsometryExplorer(Explorer):
    """Dynamical isometry: the singular values of the input-output Jacobian of a deep
    square net at initialisation, Gaussian against orthogonal weights, for the depth on
    the slider. The spectra of every depth are computed when the explorer starts
    (gradviz.isometry.jacobian_spectra); the slider only picks a row.
    """

    INITS = ("gaussian", "orthogonal")

    def __init__(self, depth=10, activation="tanh", scale=1.0, width=64, max_depth=64,
                 seed=0):
        check_choice("activation", activation, ("linear", "tanh"))
        check_int_range("max_depth", max_depth, 1, 256)
        check_int_range("depth", depth, 1, max_depth)
        check_float_range("scale", scale, 0.5, 2.0)
        super().__init__(figsize=(9, 3.4))
        key = jax.random.PRNGKey(seed)
        self.spectra = {(act, init): jacobian_spectra(key, width, max_depth, act, init, scale)
                        for act in ("linear", "tanh") for init in self.INITS}
        style = STYLE
        self.depth = widgets.IntSlider(depth, 1, max_depth, description="depth", style=style)
        self.activation = widgets.ToggleButtons(options=("linear", "tanh"), value=activation,
                                                description="activation")
        self.controls = [self.depth, self.activation]
        ax_sorted, ax_range = self.fig.subplots(1, 2)
        colors = {"gaussian": COLORS["vermillion"], "orthogonal": COLORS["blue"]}
        units = np.arange(1, width + 1)
        self.lines = {init: ax_sorted.semilogy(units, np.ones(width), "o-", ms=2,
                                               color=colors[init], label=init)[0]
                      for init in self.INITS}
        ax_sorted.set(xlabel="singular value number (largest first)",
                      ylabel="singular value", title="Spectrum of dh_depth / dh_0")
        ax_sorted.legend(fontsize=7)
        depths = np.arange(1, max_depth + 1)
        self.range_lines = {}
        for init in self.INITS:
            self.range_lines[init] = (
                ax_range.semilogy(depths, np.ones(max_depth), "-", color=colors[init],
                                  label=f"{init}: largest")[0],
                ax_range.semilogy(depths, np.ones(max_depth), ":", color=colors[init],
                                  label=f"{init}: smallest")[0])
        self.depth_marker = ax_range.axvline(depth, color="black", lw=1, ls="--")
        ax_range.set(xlabel="depth", ylabel="singular value", title="Largest and smallest")
        ax_range.legend(fontsize=7)
        for ax in (ax_sorted, ax_range):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Show the spectra at the chosen depth (no computation: a row of the table)."""
        depth, act = self.depth.value, self.activation.value
        parts = {}
        for init in self.INITS:
            spectra = self.spectra[(act, init)]
            values = spectra.at(depth)
            self.lines[init].set_ydata(finite_or_nan(values))
            largest, smallest = self.range_lines[init]
            largest.set_ydata(finite_or_nan(spectra.singular_values[:, 0]))
            smallest.set_ydata(finite_or_nan(spectra.singular_values[:, -1]))
            parts[init] = values
        self.depth_marker.set_xdata([depth, depth])
        for line in (self.lines["gaussian"], self.range_lines["gaussian"][0]):
            rescale(line.axes)
            decade_ticks(line.axes)
        self.summary.value = isometry_summary(act, depth, parts)
        self.redraw()
