"""The clip explorer's figure: draw_clip(axes, ClipExperiment) -> ClipArtists; update_clip."""

from typing import NamedTuple

import numpy as np
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from gradviz.experiments import CLIP_METHODS, ClipExperiment, ClipPoint
from gradviz.plots.style import COLORS, REFERENCE_GREY, few_ticks, finite_or_nan, fit_log_ticks

CLIP_COLORS = {"none": COLORS["vermillion"], "value": COLORS["orange"],
               "global norm": COLORS["blue"]}
CLIP_STYLES = {"none": ":", "value": "--", "global norm": "-"}  # colour and style both
CLIP_MARKERS = {"value": "s", "global norm": "o"}


class ClipArtists(NamedTuple):
    """The artists `draw_clip` made; `update_clip` changes the loss lines and markers."""

    loss_lines: dict  # run name ("none", each method) -> Line2D of its training loss
    loss_legend: Legend  # its labels say where a run diverged
    off_scale: dict  # run name -> Line2D: a triangle on the top edge where it left the axis
    diverged_markers: dict  # method -> Line2D: x where the run at that threshold diverged
    markers: list  # the dashed vertical lines at the chosen threshold, one per panel


def _plot(plot, x, y, name: str) -> Line2D:
    """A method's line against the (log) threshold, drawn by `plot` (ax.semilogx, ...):
    its marker, dashes and colour."""
    return plot(x, y, CLIP_MARKERS[name] + CLIP_STYLES[name], ms=3, color=CLIP_COLORS[name],
                label=name)[0]


def draw_clip(axes, experiment: ClipExperiment, lr: float) -> ClipArtists:
    """Draw a ClipExperiment on 4 axes (2 x 2): the training loss per run (filled in by
    `update_clip`); against the threshold, the fraction of steps clipped (x: the run
    diverged), and the first gradient's norm and angle after clipping."""
    (ax_loss, ax_frac), (ax_norm, ax_angle) = axes
    thresholds = experiment.thresholds
    loss_lines = {name: ax_loss.plot([], [], CLIP_STYLES[name], color=CLIP_COLORS[name],
                                     marker="o", ms=3, markevery=[0], label=name)[0]
                  for name in experiment.logs}  # a dot where each run starts
    # on the top edge (x: step, y: axes fraction), one size per run, so that runs leaving
    # at the same step stay apart: a filled small triangle inside hollow larger ones
    off_scale = {name: ax_loss.plot([], [], "^", ms=ms, mew=1.5, mfc=fill,
                                    color=CLIP_COLORS[name], clip_on=False,
                                    transform=ax_loss.get_xaxis_transform(),
                                    label="_nolegend_")[0]
                 for name, ms, fill in zip(experiment.logs, (6, 10, 14),
                                           (None, "none", "none"), strict=True)}
    for marker in off_scale.values():
        marker.set_in_layout(False)  # outside the axes: not a reason to shrink them
    ax_loss.set(yscale="log", xlabel="step", ylabel="training loss",
                title=f"Training (SGD, learning rate {lr:g})")
    legend = ax_loss.legend(fontsize=7, title="clipping (▲: off the scale)", title_fontsize=7,
                            loc="upper right")
    diverged_markers = {}
    for name in CLIP_METHODS:
        bad = experiment.diverged[name] >= 0
        fraction = experiment.clipped_fraction[name]
        _plot(ax_frac.semilogx, thresholds, np.where(bad, np.nan, fraction), name)
        diverged_markers[name] = ax_frac.semilogx(
            thresholds, np.where(bad, fraction, np.nan), "x", ms=8, mew=2,
            color=CLIP_COLORS[name], label="_nolegend_")[0]
    ax_frac.set(xlabel="threshold", ylabel="fraction of steps clipped",
                ylim=(-0.03, 1.03), title="How often it clips (x: the run diverged)")
    ax_frac.plot([], [], "x", ms=8, mew=2, color="black", label="diverged (of the steps up to it)")
    ax_frac.legend(fontsize=7, loc="center left")
    ax_norm.loglog(thresholds, np.full_like(thresholds, experiment.raw_norm), CLIP_STYLES["none"],
                 color=CLIP_COLORS["none"], label="none")
    for name in CLIP_METHODS:  # named in the other panels' legends
        _plot(ax_norm.loglog, thresholds, experiment.first_norm[name], name).set_label("_")
    n = experiment.n_params
    ax_norm.loglog(thresholds, thresholds * np.sqrt(n), ":", color=REFERENCE_GREY,
                 label=f"threshold × √{n} (value's cap)")
    ax_norm.set(xlabel="threshold", ylabel="norm after clipping",
                title="First gradient: its norm")
    ax_norm.legend(fontsize=7, loc="lower right")
    for name in CLIP_METHODS:
        _plot(ax_angle.semilogx, thresholds, experiment.first_angle[name], name)
    ax_angle.set(xlabel="threshold", ylabel="angle to the gradient (°)",
                 ylim=(-3, 93), yticks=[0, 30, 60, 90], title="First gradient: its direction")
    ax_angle.legend(fontsize=7, loc="upper right")
    markers = [ax.axvline(thresholds[0], color="black", lw=1, ls="--")
               for ax in (ax_norm, ax_angle, ax_frac)]
    for ax in (ax_loss, ax_frac, ax_norm):
        few_ticks(ax)
    return ClipArtists(loss_lines, legend, off_scale, diverged_markers, markers)


def update_clip(artists: ClipArtists, point: ClipPoint) -> None:
    """Show the runs of one threshold (`ClipExperiment.at`): their losses, the legend's
    word on divergence, and the threshold's markers."""
    # The axis shows the runs that did not diverge, and where every run started, with
    # room for the legend above them: a run that blew up (to 1e17 and more) would squash
    # them into a line. A run's losses above the axis (and inf/NaN) are left out, and a
    # triangle on the top edge marks the first step where its loss left the axis.
    losses = {name: finite_or_nan(loss) for name, loss in point.loss.items()}
    shown = np.concatenate(list(losses.values()))
    kept = np.concatenate([y if point.diverged[name] is None else y[:1]
                           for name, y in losses.items()])
    shown, kept = shown[shown > 0], kept[kept > 0]  # (NaN > 0 is False)
    low = np.floor(np.log10(shown.min())) if shown.size else -3.0
    high = max(np.ceil(np.log10(kept.max())) if kept.size else 3.0, low + 1)
    top = high + 0.4 * (high - low)
    ax_loss = artists.loss_lines["none"].axes
    ax_loss.set_ylim(10.0**low, 10.0**top)
    fit_log_ticks(ax_loss)
    for (name, line), label in zip(artists.loss_lines.items(), artists.loss_legend.get_texts(),
                                   strict=True):
        y = losses[name]
        on_axis = y <= 10.0**top  # False above it and for NaN
        line.set_data(np.arange(len(y)), np.where(on_axis, y, np.nan))
        off = np.flatnonzero(~on_axis)[:1]
        artists.off_scale[name].set_data(off, np.ones(off.shape))  # the top edge
        diverged = point.diverged[name]
        label.set_text(name if diverged is None else f"{name}: diverged at step {diverged}")
    steps = len(point.loss["none"])
    ax_loss.set_xlim(-0.02 * steps, 1.02 * steps)
    for marker in artists.markers:
        marker.set_xdata([point.threshold, point.threshold])
