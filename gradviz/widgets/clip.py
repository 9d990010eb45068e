"""ClipExplorer: gradient clipping on a recurrent net whose gradients explode."""


import numpy as np

from gradviz.experiments import CLIP_METHODS, CLIP_THRESHOLDS, clip_experiment, clipped_gradient
from gradviz.plots import (
    COLORS,
    REFERENCE_GREY,
    few_ticks,
    finite_or_nan,
)
from gradviz.runs import divergence_step
from gradviz.validate import check_float_range, check_int_range
from gradviz.widgets.base import STYLE, Explorer, log_slider


class ClipExplorer(Explorer):
    """Gradient clipping on a recurrent net whose gradients explode.

    A vanilla RNN (linear units, recurrent scale above 1) learns the adding problem with
    plain SGD, with no clipping, clipping by value (optax.clip) and clipping by global
    norm (optax.clip_by_global_norm). Every threshold of the slider is trained when the
    explorer starts (one vmapped run per method), so moving the slider only redraws.
    Top left: training loss per method (the legend says where a run diverged). Top
    right: the fraction of steps clipped against the threshold; for a run that diverged
    (marked x), of the steps up to its divergence. Bottom: the first gradient after
    clipping, against the threshold: its norm (by norm it is capped at the threshold, by
    value only at threshold x sqrt(number of parameters)) and its angle to the unclipped
    gradient.
    """

    THRESHOLDS = CLIP_THRESHOLDS

    def __init__(self, threshold=1.0, activation="linear", recurrent_scale=1.1, lr=0.01,
                 steps=200, length=30, hidden=16, seed=0):
        check_float_range("clip threshold", threshold, self.THRESHOLDS[0], self.THRESHOLDS[-1])
        check_int_range("steps", steps, 1, 10_000)
        super().__init__(figsize=(9, 5.6))
        self.lr, self.steps = lr, steps
        self.experiment = clip_experiment(self.THRESHOLDS, activation, recurrent_scale, lr,
                                          steps, length, hidden, seed)
        e = self.experiment  # its arrays, under the names chapter 2's cells read
        self.logs, self.clipped, self.finite = e.logs, e.clipped, e.finite
        self.diverged, self.clipped_before = e.diverged, e.clipped_before
        self.gradient, self.n_params = e.gradient, e.n_params
        self.first_norm, self.first_angle = e.first_norm, e.first_angle
        raw = self.clipped_step("none", 1.0)

        self.threshold = log_slider(self.THRESHOLDS, threshold, "clip threshold", ".3g",
                                    style=STYLE)
        (ax_loss, ax_frac), (ax_norm, ax_angle) = self.fig.subplots(2, 2)
        colors = {"none": COLORS["vermillion"], "value": COLORS["orange"],
                  "global norm": COLORS["blue"]}
        styles = {"none": ":", "value": "--", "global norm": "-"}  # colour and style both
        markers = {"value": "s", "global norm": "o"}
        self.loss_lines = {name: ax_loss.plot([], [], styles[name], color=colors[name],
                                              label=name)[0] for name in self.logs}
        ax_loss.set(yscale="log", xlabel="step", ylabel="training loss",
                    title=f"Training (SGD, learning rate {lr:g})")
        self.loss_legend = ax_loss.legend(fontsize=7, title="clipping", title_fontsize=7,
                                          loc="upper right")
        healthy, self.diverged_markers = {}, {}
        for name in CLIP_METHODS:
            bad = self.diverged[name] >= 0
            up_to = np.maximum(self.diverged[name] + 1, 1)  # steps up to the divergence
            fraction = np.where(bad, self.clipped_before[name] / up_to,
                                self.clipped[name] / np.maximum(self.finite[name], 1))
            healthy[name] = np.where(bad, np.nan, fraction)
            ax_frac.semilogx(self.THRESHOLDS, healthy[name], markers[name] + styles[name],
                             ms=3, color=colors[name], label=name)
            self.diverged_markers[name] = ax_frac.semilogx(
                self.THRESHOLDS, np.where(bad, fraction, np.nan), "x", ms=8, mew=2,
                color=colors[name], label="_nolegend_")[0]
        self.frac_marker = ax_frac.axvline(threshold, color="black", lw=1, ls="--")
        ax_frac.set(xlabel="threshold", ylabel="fraction of steps clipped",
                    ylim=(-0.03, 1.03), title="How often it clips (x: the run diverged)")
        ax_frac.plot([], [], "x", ms=8, mew=2, color="black", label="the run diverged")
        ax_frac.legend(fontsize=7, loc="center left")
        bound = self.THRESHOLDS * np.sqrt(self.n_params)
        ax_norm.loglog(self.THRESHOLDS, np.full_like(self.THRESHOLDS, np.linalg.norm(raw)),
                       styles["none"], color=colors["none"], label="none")
        for name in CLIP_METHODS:
            ax_norm.loglog(self.THRESHOLDS, self.first_norm[name], markers[name] + styles[name],
                           ms=3, color=colors[name], label=name)
        ax_norm.loglog(self.THRESHOLDS, bound, ":", color=REFERENCE_GREY,
                       label=f"threshold × √{self.n_params} (value's cap)")
        ax_norm.set(xlabel="threshold", ylabel="norm after clipping",
                    title="First gradient: its norm")
        ax_norm.legend(fontsize=7, loc="lower right")
        for name in CLIP_METHODS:
            ax_angle.semilogx(self.THRESHOLDS, self.first_angle[name],
                              markers[name] + styles[name], ms=3, color=colors[name],
                              label=name)
        ax_angle.set(xlabel="threshold", ylabel="angle to the gradient (°)", ylim=(-3, 93),
                     yticks=[0, 30, 60, 90], title="First gradient: its direction")
        ax_angle.legend(fontsize=7, loc="upper right")
        self.markers = [ax.axvline(threshold, color="black", lw=1, ls="--")
                        for ax in (ax_norm, ax_angle)] + [self.frac_marker]
        for ax in (ax_loss, ax_frac, ax_norm):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout([self.threshold])
        self.threshold.observe(self.update, names="value")
        self.update()

    def clipped_step(self, method: str, threshold: float) -> np.ndarray:
        """The first gradient, flattened, clipped by `method` ("none": as it is). The
        first update is -lr times it."""
        return clipped_gradient(self.gradient, method, threshold)

    def outcome(self, name: str, index: int) -> str:
        """How the run of `name` at threshold `index` went, in words."""
        log = self.logs[name]
        loss = np.asarray(log.loss if name == "none" else log.loss[index])
        nonfinite = np.asarray(log.nonfinite if name == "none" else log.nonfinite[index])
        diverged = divergence_step(loss)
        if diverged is None:
            text = f"loss {loss[-1]:.2g} after {len(loss)} steps"
        else:
            text = f"diverged at step {diverged}"
            if np.any(nonfinite):
                text += f" (inf/NaN first at step {int(np.argmax(nonfinite))})"
        if name != "none" and diverged is None:
            clipped, finite = int(self.clipped[name][index]), int(self.finite[name][index])
            text += (f", clipped {clipped} of {finite} steps" if finite == len(loss) else
                     f", clipped {clipped} of its {finite} finite steps")
        elif name != "none":
            text += (f", clipped {int(self.clipped_before[name][index])} of the "
                     f"{diverged + 1} steps up to it")
        return text

    def update(self, change=None) -> None:
        """Show the runs and the first gradient for the chosen threshold."""
        index = self.threshold.value
        threshold = float(self.THRESHOLDS[index])
        lines = []
        for (name, log), label in zip(self.logs.items(), self.loss_legend.get_texts(),
                                          strict=True):
            loss = np.asarray(log.loss if name == "none" else log.loss[index])
            self.loss_lines[name].set_data(np.arange(len(loss)), finite_or_nan(loss))
            diverged = divergence_step(loss)
            label.set_text(name if diverged is None else f"{name}: diverged at step {diverged}")
            lines.append(f"{'no clipping' if name == 'none' else 'by ' + name}: "
                         f"{self.outcome(name, index)}")
        ax_loss = self.loss_lines["none"].axes
        shown = np.concatenate([line.get_ydata() for line in self.loss_lines.values()])
        shown = np.log10(shown[np.isfinite(shown) & (shown > 0)])
        low, high = np.floor(shown.min()), np.ceil(shown.max())
        ax_loss.set_ylim(10.0**low, 10.0 ** (high + 0.4 * (high - low)))  # room for the legend
        ax_loss.set_xlim(-0.02 * self.steps, 1.02 * self.steps)
        for marker in self.markers:
            marker.set_xdata([threshold, threshold])
        norm = {name: self.first_norm[name][index] for name in CLIP_METHODS}
        angle = {name: self.first_angle[name][index] for name in CLIP_METHODS}
        raw = float(np.linalg.norm(self.clipped_step("none", threshold)))
        self.summary.value = (
            f"Threshold {threshold:.3g}: " + "; ".join(lines) + ". First gradient (the "
            f"step is {self.lr:g} times it): norm {raw:.3g} unclipped, {norm['global norm']:.3g} "
            f"by global norm ({angle['global norm']:.0f}° from the gradient: same direction), "
            f"{norm['value']:.3g} by value ({angle['value']:.0f}° from the gradient).")
        self.redraw()

