"""IsometryExplorer: dynamical isometry, Gaussian against orthogonal weights."""

import ipywidgets as widgets
import jax

from gradviz.isometry import jacobian_spectra
from gradviz.plots.isometry import draw_isometry, update_isometry
from gradviz.summaries import isometry_summary
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, STYLE, Explorer


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
        super().__init__(figsize=(COLUMN_WIDTH, 3.2))
        key = jax.random.PRNGKey(seed)
        self.spectra = {(act, init): jacobian_spectra(key, width, max_depth, act, init, scale)
                        for act in ("linear", "tanh") for init in self.INITS}
        self.depth = widgets.IntSlider(depth, 1, max_depth, description="depth", style=STYLE)
        self.activation = widgets.ToggleButtons(options=("linear", "tanh"), value=activation,
                                                description="activation")
        self.controls = [self.depth, self.activation]
        self.artists = draw_isometry(self.fig.subplots(1, 2), self.INITS, width, max_depth)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Show the spectra at the chosen depth (no computation: a row of the table)."""
        depth, act = self.depth.value, self.activation.value
        spectra = {init: self.spectra[(act, init)] for init in self.INITS}
        update_isometry(self.artists, spectra, depth)
        self.summary.value = isometry_summary(
            act, depth, {init: table.at(depth) for init, table in spectra.items()})
        self.redraw()
