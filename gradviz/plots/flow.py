"""The gradient-flow figure: draw_flow(axes, FlowStats) -> FlowArtists; update_flow."""

import inspect
import warnings
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import blended_transform_factory

from gradviz.flow import FlowStats, gradient_flow
from gradviz.plots.style import (
    COLORS,
    NONFINITE_GREY,
    REFERENCE_GREY,
    drawn_values,
    few_ticks,
    finite_or_nan,
    fit_log_ticks,
    layer_limits,
    positive_or_nan,
    rescale,
)
from gradviz.summaries import panel_note, where_not_drawn

# what gradient_flow counts as saturated by default (|phi'| below it), named in the legend
SATURATION_THRESHOLD = inspect.signature(gradient_flow).parameters[
    "saturation_threshold"].default


class FlowArtists(NamedTuple):
    """The artists `draw_flow` made; `update_flow` changes their data."""

    signal: Line2D
    weight_grad: Line2D
    theory: Line2D
    act_std: Line2D
    example_spread: Line2D
    rounding: Line2D
    saturation: Line2D
    dead: Line2D
    update_ratio: Line2D
    overflow: Text
    nonfinite: tuple  # one (Rectangle, Text) per panel: the layers whose values are inf/NaN
    ratio_note: Text  # in the update-ratio panel: where it is inf/NaN or exactly 0



def draw_flow(axes, stats: FlowStats, theory_signal=None,
              saturation_threshold: float = SATURATION_THRESHOLD) -> FlowArtists:
    """Draw a FlowStats on four axes: gradients backward, the forward signal, saturation,
    update ratio.

    The forward panel (log y) shows the spread of h_l pooled over batch and units and
    the spread across examples (each unit's std over the batch, averaged over units),
    with the rounding level of the stats' dtype, eps * rms(h_l): a spread near that line
    is rounding noise, and the layer no longer tells the examples apart.
    axes: a sequence of 4 Axes (2 x 2, sharing x).
    theory_signal: (depth,) predicted ||dL/dh_l||, or None (then the legend leaves the
    prediction out; `gradient_legend` puts it back).
    saturation_threshold: the one the stats were computed with, named in the legend.
    """
    ax_grad, ax_act, ax_sat, ax_ratio = axes
    c = COLORS
    empty = ([], [])
    artists = FlowArtists(
        signal=ax_grad.plot(*empty, "o-", ms=3, color=c["blue"], label="||dL/dh_l|| signal")[0],
        weight_grad=ax_grad.plot(*empty, "s-", ms=3, color=c["orange"],
                                 label="||dL/dW_l|| weight gradient")[0],
        # on top of the measured lines (which it often matches), with long dashes
        theory=ax_grad.plot(*empty, ls=(0, (5, 2)), color="#333333", lw=1.6, zorder=4,
                            label="mean-field prediction")[0],
        act_std=ax_act.plot(*empty, "o-", ms=3, color=c["green"],
                            label="std of h_l over batch and units")[0],
        example_spread=ax_act.plot(*empty, "^-", ms=3, color=c["black"],
                                   label="std across examples (per unit)")[0],
        rounding=ax_act.plot(*empty, ":", color=REFERENCE_GREY, lw=1.2,
                             label="rounding level eps·rms(h_l)")[0],
        saturation=ax_sat.plot(*empty, "o-", ms=3, color=c["vermillion"],
                               label=f"saturated (|phi'| < {saturation_threshold:g})")[0],
        # open squares on a dashed line: visible around the saturation line when both are 0
        dead=ax_sat.plot(*empty, "s--", ms=5, mfc="none", color=c["purple"],
                         label="dead units")[0],
        update_ratio=ax_ratio.plot(*empty, "o-", ms=3, color=c["sky"])[0],
        overflow=ax_grad.text(0.02, 0.04, "", transform=ax_grad.transAxes, color=c["vermillion"],
                              fontsize=9, fontweight="bold"),
        nonfinite=tuple(_nonfinite_span(ax) for ax in axes),
        ratio_note=ax_ratio.text(0.02, 0.04, "", transform=ax_ratio.transAxes,
                                 color=c["vermillion"], fontsize=9, fontweight="bold"),
    )
    ax_grad.set(yscale="log", ylabel="gradient norm", title="Gradients per layer")
    ax_act.set(yscale="log", ylabel="spread of h_l", title="Forward signal: activations h_l")
    ax_sat.set(ylabel="fraction of units", ylim=(-0.03, 1.03), title="Saturated and dead units")
    ax_ratio.set(yscale="log", ylabel="update / weight",
                 title="Update ratio lr ||dL/dW_l|| / ||W_l||")
    for ax in axes:
        few_ticks(ax)
    for ax in (ax_sat, ax_ratio):
        ax.set_xlabel("layer l")
    ax_sat.legend(fontsize=7, loc="upper left")  # the update-ratio panel's title names it
    # vanishing fills one corner, growth or collapse another: legends placed "best"
    gradient_legend(artists, with_theory=theory_signal is not None)
    ax_act.legend(fontsize=7, loc="best")
    update_flow(artists, stats, theory_signal)
    return artists


def gradient_legend(artists: FlowArtists, with_theory: bool) -> Legend:
    """(Re)make the gradient panel's legend, naming the mean-field prediction only when
    it is drawn (`with_theory`); returns the new legend, which replaces the old one."""
    lines = [artists.signal, artists.weight_grad] + ([artists.theory] if with_theory else [])
    return artists.signal.axes.legend(handles=lines, fontsize=7, loc="best")



def _nonfinite_span(ax: Axes) -> tuple:
    """A hatched band over a range of layers (x in data, y over the whole axes), labelled
    "inf/NaN": where a panel's values are not finite. Hidden until update_flow sets it."""
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    band = Rectangle((0, 0), 0, 1, transform=transform, facecolor="none", hatch="///",
                     edgecolor=NONFINITE_GREY, lw=0, zorder=0, visible=False)
    ax.add_patch(band)
    label = ax.text(0, 0.5, "inf/NaN", transform=transform, rotation=90, ha="center",
                    va="center", fontsize=8, color="#555555", visible=False,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    return band, label


def _show_nonfinite(span: tuple, bad: np.ndarray) -> None:
    """Put the band of `_nonfinite_span` over the layers (1-based) where `bad`: (depth,)
    is True, from the first to the last of them; hide it when there are none."""
    band, label = span
    where = np.flatnonzero(bad)
    band.set_visible(where.size > 0)
    label.set_visible(where.size > 0)
    if where.size:
        first, last = where[0] + 0.5, where[-1] + 1.5
        band.set_x(first)
        band.set_width(last - first)
        label.set_x((first + last) / 2)


def _headroom(ax: Axes, decades: float = 0.2) -> None:
    """On an autoscaled log y axis, raise the top by a decade when the highest finite data
    lie within `decades` of it: a line along the top edge hides under the frame. (rescale
    leaves a twentieth of a decade; one decade more stays within what the explorers allow.)"""
    if ax.get_yscale() != "log" or not ax.get_autoscaley_on():
        return
    values = drawn_values(ax, "y", positive=True)
    low, high = ax.get_ylim()
    if values.size and 0 < low < high and np.log10(high / values.max()) < decades:
        ax.set_ylim(low, high * 10, auto=None)


def _nonfinite_layers(stats: FlowStats) -> tuple[np.ndarray, np.ndarray]:
    """(depth,) bools: the layers whose activations are inf/NaN, and those whose gradients
    (||dL/dh_l|| or ||dL/dW_l||) are."""
    forward = ~np.isfinite(np.asarray(stats.act_mean, np.float64)
                           + np.asarray(stats.act_std, np.float64))
    backward = ~np.isfinite(np.asarray(stats.signal_norm, np.float64)
                            + np.asarray(stats.weight_grad_norm, np.float64))
    return forward, backward


def update_flow(artists: FlowArtists, stats: FlowStats, theory_signal=None,
                yscale: str | None = None) -> None:
    """Put a new FlowStats (and prediction) into the artists of `draw_flow`, rescaling;
    `yscale` ("log" or "linear") sets the gradient panel's axis."""
    layers = np.arange(1, len(stats.signal_norm) + 1)
    mean, std = finite_or_nan(stats.act_mean), finite_or_nan(stats.act_std)
    spread = np.asarray(stats.example_spread)
    eps = np.finfo(spread.dtype if spread.dtype.kind == "f" else np.float32).eps
    artists.signal.set_data(layers, finite_or_nan(stats.signal_norm))
    artists.weight_grad.set_data(layers, finite_or_nan(stats.weight_grad_norm))
    theory = [] if theory_signal is None else finite_or_nan(theory_signal)
    artists.theory.set_data(layers[: len(theory)], theory)
    artists.act_std.set_data(layers, positive_or_nan(std))
    artists.example_spread.set_data(layers, positive_or_nan(spread))
    artists.rounding.set_data(layers, positive_or_nan(eps * np.sqrt(mean**2 + std**2)))
    # a layer with inf/NaN activations has no meaningful fraction (relu'(NaN) = 0 would
    # count every unit as saturated and dead): a gap, under the inf/NaN band
    forward, backward = _nonfinite_layers(stats)
    artists.saturation.set_data(layers, np.where(forward, np.nan, stats.saturation))
    artists.dead.set_data(layers, np.where(forward, np.nan, stats.dead_fraction))
    artists.update_ratio.set_data(layers, finite_or_nan(stats.update_ratio))
    artists.overflow.set_text(panel_note(stats))
    artists.ratio_note.set_text(where_not_drawn("ratio", stats.update_ratio))
    for span, bad in zip(artists.nonfinite, (backward, forward, forward, backward), strict=True):
        _show_nonfinite(span, bad)
    ax = artists.signal.axes
    if yscale is not None and ax.get_yscale() != yscale:
        with warnings.catch_warnings():  # all-inf/NaN data: nothing to show on a log axis
            warnings.simplefilter("ignore", UserWarning)
            ax.set_yscale(yscale)
        ax.set_autoscaley_on(True)
        few_ticks(ax)
    for line in (artists.signal, artists.act_std, artists.saturation, artists.update_ratio):
        ax = line.axes
        rescale(ax)
        _headroom(ax)
        layer_limits(ax, len(layers))
        fit_log_ticks(ax)
        # nothing finite to draw: no stale tick labels left from the last data
        drawn = any(np.any(np.isfinite(np.asarray(other.get_ydata(), float))
                           & (np.asarray(other.get_ydata(), float) > 0))
                    for other in ax.lines) if ax.get_yscale() == "log" else True
        ax.tick_params(axis="y", which="both", labelleft=drawn)
