"""Matplotlib drawings of gradviz results.

Each `draw_*` function draws onto axes it is given and returns the artists it made;
the matching `update_*` function changes those artists' data in place, so that a live
explorer never rebuilds its figure. Colours are the Okabe-Ito palette, which stays
distinguishable for the common forms of colour blindness.
"""

from typing import NamedTuple

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import blended_transform_factory

from gradviz.flow import FlowStats

COLORS = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}


def finite_or_nan(values) -> np.ndarray:
    """values as floats with inf replaced by NaN: matplotlib leaves a gap there."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def positive_or_nan(values) -> np.ndarray:
    """values as floats with inf, 0 and negatives replaced by NaN: gaps on a log axis."""
    values = finite_or_nan(values)
    return np.where(values > 0, values, np.nan)


def rescale(ax: Axes) -> None:
    """Fit the axis limits to the current data (lines do not do it when their data change)."""
    ax.relim()
    if ax.get_yscale() == "log" and not any(
        np.any(np.asarray(line.get_ydata(), dtype=float) > 0) for line in ax.lines
    ):
        low, high = ax.get_ylim()  # nothing finite to show (overflow): keep the last
        if not 0 < low < high:  # limits, or give a fresh axis a valid log range
            ax.set_ylim(1e-3, 1e3)
        return
    ax.autoscale_view()


def few_ticks(ax: Axes) -> None:
    """At most ~5 labelled ticks per axis: easier to read, and each label costs a live
    figure time on every redraw. Call again after changing an axis' scale."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_locator(ticker.LogLocator(numticks=5))
            axis.set_minor_locator(ticker.NullLocator())
        else:
            axis.set_major_locator(ticker.MaxNLocator(6 if axis is ax.xaxis else 5,
                                                      integer=axis is ax.xaxis))


def fit_log_ticks(ax: Axes) -> None:
    """On a log y axis spanning few decades, tick at 1-2-5 or 1-3 of each decade as well
    (below one decade: at round numbers), so that at least 3 ticks are labelled; call
    after the limits changed."""
    if ax.get_yscale() != "log":
        return
    low, high = ax.get_ylim()
    decades = np.log10(high / low) if 0 < low < high else np.inf
    if decades < 1:  # less than a decade: evenly spaced round numbers
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
    else:
        subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0, 3.0) if decades < 3 else (1.0,)
        ax.yaxis.set_major_locator(ticker.LogLocator(numticks=5, subs=subs))
    # label every major tick (matplotlib's default labels only 10^k beyond one decade)
    ax.yaxis.set_major_formatter(ticker.LogFormatterSciNotation(minor_thresholds=(np.inf,
                                                                                  np.inf)))


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


REFERENCE_GREY = "#777777"  # lines that are predictions or limits, not measurements


def draw_flow(axes, stats: FlowStats, theory_signal=None) -> FlowArtists:
    """Draw a FlowStats on four axes: gradients backward, the forward signal, saturation,
    update ratio.

    The forward panel (log y) shows the spread of h_l pooled over batch and units and
    the spread across examples (each unit's std over the batch, averaged over units),
    with the rounding level of the stats' dtype, eps * rms(h_l): a spread near that line
    is rounding noise, and the layer no longer tells the examples apart.
    axes: a sequence of 4 Axes (2 x 2, sharing x).
    theory_signal: (depth,) predicted ||dL/dh_l||, or None.
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
                               label="saturated (|phi'| < threshold)")[0],
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
    for ax in (ax_grad, ax_act):  # vanishing fills one corner, growth or collapse another
        ax.legend(fontsize=7, loc="best")
    update_flow(artists, stats, theory_signal)
    return artists


NONFINITE_GREY = "#BBBBBB"


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


def _nonfinite_layers(stats: FlowStats) -> tuple[np.ndarray, np.ndarray]:
    """(depth,) bools: the layers whose activations are inf/NaN, and those whose gradients
    (||dL/dh_l|| or ||dL/dW_l||) are."""
    forward = ~np.isfinite(np.asarray(stats.act_mean, np.float64)
                           + np.asarray(stats.act_std, np.float64))
    backward = ~np.isfinite(np.asarray(stats.signal_norm, np.float64)
                            + np.asarray(stats.weight_grad_norm, np.float64))
    return forward, backward


def update_flow(artists: FlowArtists, stats: FlowStats, theory_signal=None) -> None:
    """Put a new FlowStats (and prediction) into the artists of `draw_flow`, rescaling."""
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
    artists.ratio_note.set_text(_where_not_drawn("ratio", stats.update_ratio))
    for span, bad in zip(artists.nonfinite, (backward, forward, forward, backward), strict=True):
        _show_nonfinite(span, bad)
    for line in (artists.signal, artists.act_std, artists.saturation, artists.update_ratio):
        ax = line.axes
        rescale(ax)
        ax.set_xlim(0.5, max(len(layers), 2) + 0.5)
        fit_log_ticks(ax)
        # nothing finite to draw: no stale tick labels left from the last data
        drawn = any(np.any(np.isfinite(np.asarray(other.get_ydata(), float))
                           & (np.asarray(other.get_ydata(), float) > 0))
                    for other in ax.lines) if ax.get_yscale() == "log" else True
        ax.tick_params(axis="y", which="both", labelleft=drawn)


def overflow_message(stats) -> str:
    """Where inf/NaN appeared, in words ("" when everything is finite)."""
    parts = []
    if stats.first_nonfinite_forward is not None:
        parts.append(f"activations inf/NaN from layer {stats.first_nonfinite_forward}")
    if stats.first_nonfinite_backward is not None:
        parts.append(f"gradients inf/NaN from layer {stats.first_nonfinite_backward} down")
    return "; ".join(parts)


def flow_summary(stats: FlowStats) -> str:
    """One line that says what the gradient-flow figure shows, for reading without it."""
    signal = np.asarray(stats.signal_norm, dtype=np.float64)
    depth = len(signal)
    if overflow_message(stats):
        return overflow_summary(stats)
    if depth == 1:
        return f"One layer: ||dL/dh_1|| = {signal[0]:.2g}."
    if signal[-1] == 0 or signal[0] == 0:
        layer = 1 + int(np.flatnonzero(signal == 0)[-1])
        if np.asarray(stats.dead_fraction)[layer - 1] >= 1:
            why = f"every unit of layer {layer} is dead and passes no gradient"
        else:
            why = "it fell below the smallest float32 number (underflow)"
        return f"The signal is exactly 0 at layer {layer} and below: {why}."
    total = signal[0] / signal[-1]
    factor = total ** (1 / (depth - 1))
    verb = "shrinks" if factor < 1 else "grows"
    return (f"Going back one layer, the signal {verb} {factor:.2f}x; "
            f"layer 1 gets {total:.1e} of layer {depth}'s signal.")


def layer_ranges(mask) -> str:
    """The layers (1-based) where mask: (depth,) is True, as "layer 3", "layers 5-9" or
    "layers 1-2 and 7"; "" when there are none."""
    where = np.flatnonzero(np.asarray(mask)) + 1
    if where.size == 0:
        return ""
    runs = np.split(where, np.flatnonzero(np.diff(where) > 1) + 1)
    words = [f"{r[0]}" if r.size == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    text = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
    return ("layer " if where.size == 1 else "layers ") + text


def _where_not_drawn(name: str, values) -> str:
    """'name: inf/NaN at layers ..., 0 at layers ...' where a log axis cannot draw values:
    (depth,); "" when every value is finite and nonzero."""
    values = np.asarray(values, np.float64)
    bad, zero = layer_ranges(~np.isfinite(values)), layer_ranges(values == 0)
    if not bad:
        return ""
    return f"{name}: inf/NaN at {bad}" + (f",\n    exactly 0 at {zero}" if zero else "")


def panel_note(stats: FlowStats) -> str:
    """The gradient panel's note after an overflow: where the activations and each
    gradient are inf/NaN (hatched) or exactly 0 (not drawn on a log axis); "" if none."""
    lines = []
    if stats.first_nonfinite_forward is not None:
        lines.append(f"activations inf/NaN from layer {stats.first_nonfinite_forward} on")
    for name, values in (("||dL/dh_l||", stats.signal_norm),
                         ("||dL/dW_l||", stats.weight_grad_norm)):
        note = _where_not_drawn(name, values)
        if note:
            lines.append(note)
    return "\n".join(lines)


def overflow_summary(stats: FlowStats) -> str:
    """Where inf/NaN appeared in a pass that overflowed, in words: the layer the
    activations overflowed at (and how fast they grew before it), the loss, and, for each
    gradient, the layers where it is inf/NaN and those where it is exactly 0."""
    parts = []
    forward = stats.first_nonfinite_forward
    if forward is not None:
        text = f"activations inf/NaN from layer {forward} on"
        std = np.asarray(stats.act_std)
        if forward > 2 and std[0] > 0 and std.dtype.kind == "f":
            growth = (float(std[forward - 2]) / float(std[0])) ** (1 / (forward - 2))
            text += (f" (their spread grows {growth:.1f}x per layer, past {std.dtype.name}'s "
                     f"largest number, {float(np.finfo(std.dtype).max):.1e})")
        parts.append(text)
    if not np.isfinite(stats.loss):
        parts.append(f"the loss is {'NaN' if np.isnan(stats.loss) else stats.loss}, so the "
                     f"backward pass starts from it")
    for name, values in (("||dL/dh_l||", stats.signal_norm),
                         ("||dL/dW_l||", stats.weight_grad_norm)):
        values = np.asarray(values, np.float64)
        bad, zero = layer_ranges(~np.isfinite(values)), layer_ranges(values == 0)
        if bad:
            parts.append(f"{name} is inf/NaN at {bad}" + (f" and exactly 0 at {zero}"
                                                           if zero else ""))
    return "Overflow: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- attribution maps

MAP_STYLES = {  # kind -> colormap: the input, a magnitude (>= 0), a signed attribution
    "input": "gray_r",
    "ink": "gray_r",
    "magnitude": "viridis",
    "signed": "RdBu_r",
}
INK_RANGE = (0.0, 16.0)  # the raw ink of scikit-learn's digits: 0 blank paper, 16 full ink


def draw_maps(axes, maps, titles, kinds, shape=(8, 8), colorbar=False) -> list:
    """Draw one map per axis as an image of `shape` (each map: shape or flat).

    kinds: "input" (grey, from its min to its max), "ink" (grey, raw ink on the fixed
    scale INK_RANGE: blank paper white), "magnitude" (colour from 0 to its max) or
    "signed" (red positive, blue negative, white 0, symmetric limits). Every map but
    "ink" is scaled to its own largest value; colorbar=True draws each one's scale
    (it follows `update_maps`). Returns the AxesImages for `update_maps`.
    """
    images = []
    for ax, title, kind in zip(axes, titles, kinds, strict=True):
        image = ax.imshow(np.zeros(shape), cmap=MAP_STYLES[kind])
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar:
            bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=6)
            bar.locator = ticker.MaxNLocator(5)  # kept by the bar when the limits change
            bar.formatter = ticker.FuncFormatter(lambda v, _: f"{v:.2g}")  # 2.5e-06, no offset
        images.append(image)
    update_maps(images, maps, kinds, shape)
    return images


def update_maps(images, maps, kinds, shape=(8, 8)) -> None:
    """Put new maps into the images of `draw_maps`, with limits that fit each map."""
    for image, values, kind in zip(images, maps, kinds, strict=True):
        values = np.asarray(values, dtype=np.float64).reshape(shape)
        image.set_data(values)
        top = float(np.nanmax(np.abs(values))) if np.any(np.isfinite(values)) else 1.0
        top = top if top > 0 else 1.0
        if kind == "ink":
            image.set_clim(*INK_RANGE)
        elif kind == "signed":
            image.set_clim(-top, top)
        elif kind == "magnitude":
            image.set_clim(0.0, top)
        else:
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            image.set_clim(low, high if high > low else low + 1.0)


# --------------------------------------------------------------------------- chapter 3: fixes

PALETTE = ("vermillion", "blue", "green", "orange", "purple", "sky", "black")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))


def color_of(index: int) -> str:
    """The index-th colour of the Okabe-Ito palette, cycling."""
    return COLORS[PALETTE[index % len(PALETTE)]]


def style_of(index: int) -> dict:
    """The index-th line style of chapter 3's figures: a colour and a dash pattern, so
    that lines can be told apart without colour too."""
    return {"color": color_of(index), "ls": LINE_STYLES[index % len(LINE_STYLES)]}


def draw_signal_profiles(ax: Axes, flows: dict, xlabel: str = "layer l",
                         title: str = "Gradient flow at initialisation",
                         styles: dict | None = None) -> dict:
    """||dL/dh_l|| against layer l (or time step) for several networks (name ->
    FlowStats or RNNFlowStats), log y. styles: name -> Line2D keywords (color, ls);
    by default the i-th network gets style_of(i).

    Returns name -> Line2D.
    """
    lines = {}
    for i, (name, stats) in enumerate(flows.items()):
        layers = np.arange(1, len(stats.signal_norm) + 1)
        style = (styles or {}).get(name, style_of(i))
        lines[name] = ax.semilogy(layers, finite_or_nan(stats.signal_norm), marker="o", ms=2,
                                  label=name, **style)[0]
    ax.set(xlabel=xlabel, ylabel="||dL/dh||", title=title)
    few_ticks(ax)
    fit_log_ticks(ax)
    return lines


def draw_runs(ax: Axes, curves: dict, ylabel: str, log: bool = False,
              styles: dict | None = None) -> dict:
    """Training curves over several seeds: for each name -> values (runs, steps), the
    mean over runs as a line and the range (min to max) as a shaded band. styles: name
    -> Line2D keywords (color, ls); by default the i-th curve gets style_of(i).

    Returns name -> (Line2D, band). Steps where a run overflowed leave a gap.
    """
    artists = {}
    for i, (name, values) in enumerate(curves.items()):
        values = finite_or_nan(values)
        steps = np.arange(values.shape[1])
        with np.errstate(all="ignore"):
            mean, low, high = values.mean(0), values.min(0), values.max(0)
        style = (styles or {}).get(name, style_of(i))
        line = ax.plot(steps, mean, lw=1.2, label=name, **style)[0]
        band = ax.fill_between(steps, low, high, color=style["color"], alpha=0.2, lw=0)
        artists[name] = (line, band)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=ylabel)
    few_ticks(ax)
    fit_log_ticks(ax)
    return artists


def draw_fix(axes, flows: dict, logs: dict, title: str = "", xlabel: str = "layer l",
             flow_title: str = "Gradient flow at initialisation",
             flow_styles: dict | None = None) -> None:
    """One fix, before and after, on three axes: the gradient flow (name -> FlowStats),
    then training loss and test accuracy over seeds (name -> TrainLog with a leading
    runs axis, as from gradviz.train.train_mlp_seeds). Logs without a test set show the
    training accuracy; mse logs show the loss only.

    Each log's name keeps one colour and dash pattern in every panel (style_of, in the
    order of `logs`); a flow of the same name gets the same style. flow_styles: flow
    name -> (log name, dash pattern), for flows of another name (for example a network
    at initialisation and after training: one colour, two dash patterns); the loss panel
    then gets a legend of its own.
    """
    ax_flow, ax_loss, ax_acc = axes
    styles = {name: style_of(i) for i, name in enumerate(logs)}
    line_styles = dict(styles)
    for name, (log_name, dashes) in (flow_styles or {}).items():
        line_styles[name] = {"color": styles[log_name]["color"], "ls": dashes}
    draw_signal_profiles(ax_flow, flows, xlabel, flow_title, line_styles)
    draw_runs(ax_loss, {name: log.loss for name, log in logs.items()}, "training loss",
              log=True, styles=styles)
    ax_loss.set_title("Loss (mean, range over seeds)")
    first = next(iter(logs.values()))
    if first.test_accuracy is not None or first.accuracy is not None:
        field = "test_accuracy" if first.test_accuracy is not None else "accuracy"
        curves = {name: getattr(log, field) for name, log in logs.items()}
        draw_runs(ax_acc, curves, field.replace("_", " "), styles=styles)
        ax_acc.set(ylim=(0, 1), title="Accuracy (mean, range over seeds)")
    elif first.test_loss is not None:
        draw_runs(ax_acc, {name: log.test_loss for name, log in logs.items()}, "test loss",
                  log=True, styles=styles)
        ax_acc.set_title("Test loss (mean, range over seeds)")
    ax_flow.legend(fontsize=7)
    if flow_styles:
        ax_loss.legend(fontsize=7)
    if title:
        ax_flow.figure.suptitle(title, fontsize=10)


def decade_ticks(ax: Axes) -> None:
    """On a log y axis, label round powers of ten: every decade, or every 2, 5, 10, 20
    or 50 decades, whichever gives 3 to 6 labels over the current limits."""
    low, high = ax.get_ylim()
    if not 0 < low < high:
        return
    lo, hi = np.log10(low), np.log10(high)
    for step in (1, 2, 5, 10, 20, 50, 100):
        ticks = np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)
        if len(ticks) <= 6:
            break
    ax.yaxis.set_major_locator(ticker.FixedLocator(10.0 ** ticks))
    ax.yaxis.set_minor_locator(ticker.NullLocator())
