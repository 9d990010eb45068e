"""StepSizeExplorer: the error of central differences against the step size."""


import ipywidgets as widgets
import jax
import jax.flatten_util
import numpy as np

from gradviz import gradcheck as _gradcheck
from gradviz.examples import two_layer_example, two_layer_loss
from gradviz.plots import (
    COLORS,
    few_ticks,
)
from gradviz.summaries import (
    steps_summary,
)
from gradviz.validate import check_choice, check_float_range
from gradviz.widgets.base import Explorer, log_slider


class StepSizeExplorer(Explorer):
    """The error of central differences against the step size eps: the U-curve.

    Right of the best eps the truncation error (~ eps^2) rules, left of it the round-off
    (~ machine_eps |f| / eps). Both dtypes' curves are computed when the explorer is made
    (one vectorised sweep each); the eps slider and the dtype toggle only move the marker
    and the threshold line. Default problem: the chapter's two-layer network; or pass
    f(params, *args) -> scalar, params and args.
    """

    EPS = _gradcheck.EPS_GRID  # the steps step_size_sweep uses

    def __init__(self, eps=1e-5, dtype="float64", f=None, params=None, args=()):
        check_float_range("eps", eps, float(self.EPS[0]), float(self.EPS[-1]))
        check_choice("dtype", dtype, _gradcheck.DTYPES)
        if f is None:
            params, *args = two_layer_example(jax.random.PRNGKey(0))
            f = two_layer_loss
        super().__init__(figsize=(6.5, 3.4))
        self.sweeps = {name: _gradcheck.step_size_sweep(f, params, *args, eps_values=self.EPS,
                                                        dtype=name)
                       for name in _gradcheck.DTYPES}
        ax = self.fig.subplots()
        colors = {"float64": COLORS["blue"], "float32": COLORS["orange"]}
        self.curves = {name: ax.loglog(self.EPS, np.maximum(sweep.error, 1e-17), "o-", ms=2,
                                       color=colors[name], label=name)[0]
                       for name, sweep in self.sweeps.items()}
        self.good_line = ax.axhline(1.0, color="0.4", ls=":", lw=1, label="'good' threshold")
        self.marker = ax.plot([], [], "o", ms=9, mfc="none", mew=2, color=COLORS["black"],
                              label="chosen eps")[0]
        ax.set(xlabel="step eps", ylabel="relative error", ylim=(1e-17, 10),
               title="Central differences: error against step")
        ax.legend(fontsize=7, loc="lower left")
        few_ticks(ax)
        self.fig.tight_layout()
        self.eps = log_slider(self.EPS, eps, "eps", ".0e", continuous_update=True)
        self.dtype = widgets.ToggleButtons(options=_gradcheck.DTYPES, value=dtype,
                                           description="dtype")
        self.widget = self.layout([self.eps, self.dtype])
        for control in (self.eps, self.dtype):
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Move the marker to the chosen eps on the chosen dtype's curve."""
        name, index = self.dtype.value, self.eps.value
        sweep = self.sweeps[name]
        eps, error = float(self.EPS[index]), float(sweep.error[index])
        self.marker.set_data([eps], [max(error, 1e-17)])
        self.good_line.set_ydata([_gradcheck.BANDS[name][0]] * 2)
        for other, line in self.curves.items():
            line.set_linewidth(2.0 if other == name else 0.8)
        self.summary.value = steps_summary(name, eps, error, sweep.best_eps, sweep.best_error,
                                           _gradcheck.BANDS[name][0])
        self.redraw()
