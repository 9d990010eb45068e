"""StepSizeExplorer: the error of central differences against the step size."""

import ipywidgets as widgets
import jax

from gradviz.examples import two_layer_example, two_layer_loss
from gradviz.gradcheck import BANDS, DTYPES, EPS_GRID, step_size_sweep
from gradviz.plots.gradcheck import draw_steps, update_steps
from gradviz.summaries import steps_summary
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

    EPS = EPS_GRID  # the steps step_size_sweep uses

    def __init__(self, eps=1e-5, dtype="float64", f=None, params=None, args=()):
        check_float_range("eps", eps, float(self.EPS[0]), float(self.EPS[-1]))
        check_choice("dtype", dtype, DTYPES)
        if f is None:
            params, *args = two_layer_example(jax.random.PRNGKey(0))
            f = two_layer_loss
        super().__init__(figsize=(6.5, 3.4))
        self.sweeps = {name: step_size_sweep(f, params, *args, eps_values=self.EPS, dtype=name)
                       for name in DTYPES}
        self.artists = draw_steps(self.fig.subplots(), self.sweeps)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.eps = log_slider(self.EPS, eps, "eps", ".0e", continuous_update=True)
        self.dtype = widgets.ToggleButtons(options=DTYPES, value=dtype, description="dtype")
        self.widget = self.layout([self.eps, self.dtype])
        for control in (self.eps, self.dtype):
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Move the marker to the chosen eps on the chosen dtype's curve."""
        name, index = self.dtype.value, self.eps.value
        sweep, good = self.sweeps[name], BANDS[name][0]
        update_steps(self.artists, self.sweeps, name, index, good)
        self.summary.value = steps_summary(name, float(self.EPS[index]),
                                           float(sweep.error[index]), sweep.best_eps,
                                           sweep.best_error, good)
        self.redraw()
