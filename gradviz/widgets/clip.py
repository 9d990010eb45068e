"""ClipExplorer: gradient clipping on a recurrent net whose gradients explode."""

from gradviz.experiments import CLIP_THRESHOLDS, clip_experiment
from gradviz.plots.clipping import draw_clip, update_clip
from gradviz.summaries import clip_summary
from gradviz.validate import check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, STYLE, Explorer, log_slider


class ClipExplorer(Explorer):
    """Gradient clipping on a recurrent net whose gradients explode.

    A vanilla RNN (linear units, recurrent scale above 1) learns the adding problem with
    plain SGD, with no clipping, clipping by value (optax.clip) and clipping by global
    norm (optax.clip_by_global_norm). Every threshold of the slider is trained when the
    explorer starts (gradviz.experiments.clip_experiment: one vmapped run per method), so
    moving the slider only redraws. Top left: training loss per method (the legend says
    where a run diverged). Top right: the fraction of steps clipped against the
    threshold; for a run that diverged (marked x), of the steps up to its divergence.
    Bottom: the first gradient after clipping, against the threshold: its norm (by norm
    it is capped at the threshold, by value only at threshold x sqrt(number of
    parameters)) and its angle to the unclipped gradient.
    """

    THRESHOLDS = CLIP_THRESHOLDS

    def __init__(self, threshold=1.0, activation="linear", recurrent_scale=1.1, lr=0.01,
                 steps=200, length=30, hidden=16, seed=0):
        check_float_range("clip threshold", threshold, self.THRESHOLDS[0], self.THRESHOLDS[-1])
        check_int_range("steps", steps, 1, 10_000)
        super().__init__(figsize=(COLUMN_WIDTH, 5.1))
        self.lr, self.steps = lr, steps
        self.experiment = clip_experiment(self.THRESHOLDS, activation, recurrent_scale, lr,
                                          steps, length, hidden, seed)
        e = self.experiment  # its arrays, under the names chapter 2's cells read
        self.logs, self.clipped, self.finite = e.logs, e.clipped, e.finite
        self.diverged, self.clipped_before = e.diverged, e.clipped_before
        self.gradient, self.n_params = e.gradient, e.n_params
        self.first_norm, self.first_angle = e.first_norm, e.first_angle
        self.threshold = log_slider(self.THRESHOLDS, threshold, "clip threshold", ".3g",
                                    style=STYLE)
        self.artists = draw_clip(self.fig.subplots(2, 2), e, lr)
        self.animate(self.artists)  # a slider step redraws only these (blitting)
        self.fig.tight_layout()
        self.widget = self.layout([self.threshold])
        self.threshold.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Show the runs and the first gradient for the chosen threshold."""
        self.point = self.experiment.at(self.threshold.value)
        update_clip(self.artists, self.point)
        self.summary.value = clip_summary(self.point, self.lr)
        self.redraw()
