"""The drawing layer's shared style: the Okabe-Ito palette (distinguishable for the
common forms of colour blindness), line styles, and axis and tick helpers."""

import weakref

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes

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
    """Fit the autoscaled axes' limits to the lines' finite data in steps, so that they
    change only now and then: a log axis to the whole decades around the data (with a
    twentieth of a decade to spare; a wide one keeps a few more, `log_limits`), a linear
    one to round numbers (`round_limits`), an
    x axis of positions 1..n (layers, time steps) as `position_limits` puts it. Between
    steps an update changes only the lines, which the explorers redraw alone (blitting).
    Without finite data a log axis keeps its limits (or gets 1e-3..1e3 if it has none).
    An axis' first fit is a fresh one (no spare decades kept from matplotlib's default
    limits). Limits set by hand (autoscaling off) stay."""
    for axis in ("x", "y"):
        if not (ax.get_autoscalex_on() if axis == "x" else ax.get_autoscaley_on()):
            continue
        log = (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log"
        values = drawn_values(ax, axis, positive=log)
        current = ax.get_xlim() if axis == "x" else ax.get_ylim()
        if values.size == 0:
            limits = current if not log or 0 < current[0] < current[1] else (1e-3, 1e3)
        elif log:  # matplotlib's limits before the first fit are no limits to keep
            kept = np.log10(current) if ax in _RESCALED and 0 < current[0] < current[1] else None
            limits = 10.0 ** np.array(log_limits(np.log10(values.min()),
                                                 np.log10(values.max()), kept))
        elif axis == "x" and values.min() >= 1 and np.all(values == np.round(values)):
            limits = position_limits(int(values.max()), current=current if ax in _RESCALED
                                     else None)
        else:
            limits = round_limits(values.min(), values.max())
        if tuple(current) != tuple(limits):  # auto=None: autoscaling stays on
            (ax.set_xlim if axis == "x" else ax.set_ylim)(*limits, auto=None)
    _RESCALED.add(ax)


_RESCALED = weakref.WeakSet()  # the axes that `rescale` has fitted before


def drawn_values(ax: Axes, axis: str = "y", positive: bool = False) -> np.ndarray:
    """The finite x or y values (positive ones only, for a log axis) of ax's visible
    lines, flattened: (n,)."""
    values = [np.asarray(line.get_xdata() if axis == "x" else line.get_ydata(), float)
              for line in ax.lines if line.get_visible()]
    values = np.concatenate([v.ravel() for v in values]) if values else np.zeros(0)
    return values[np.isfinite(values) & ((values > 0) if positive else True)]


def log_step(decades: float) -> int:
    """How many decades a log axis whose data span `decades` may keep to spare at either
    end: 1 up to 3 decades, 2 up to 15, 4 beyond. A wide axis (a signal vanishing over 20
    decades) then moves its limits every few slider steps instead of at every one."""
    return 1 if decades <= 3 else 2 if decades <= 15 else 4


def log_limits(low: float, high: float, current=None) -> tuple[float, float]:
    """log10 limits for data from 10^low to 10^high: the whole decades around them (a
    twentieth of a decade to spare). Or the `current` ones (log10), while they hold the
    data with at most 2 (log_step - 1) decades more to spare at either end, not counting
    a third of a decade that the data have only just left. Where the data pass an end,
    or leave more to spare, that end moves to log_step - 1 decades beyond the whole
    decade. So data moving on either way stay inside for a few more steps, and data
    moving to and fro (a slider moved back and forth) do not move the limits each time.
    """
    fit_low = np.floor(low - 0.05)
    fit_high = max(np.ceil(high + 0.05), fit_low + 1)
    if current is None:
        return float(fit_low), float(fit_high)
    spare = log_step(high - low) - 1
    now_low, now_high = current
    loose_low, loose_high = np.floor(low - LEAVE), np.ceil(high + LEAVE)  # what still holds
    new_low = (fit_low - spare if fit_low < now_low or now_low < loose_low - 2 * spare
               else now_low)  # the data passed the bottom, or too wide; else it holds
    new_high = (fit_high + spare if fit_high > now_high or now_high > loose_high + 2 * spare
                else now_high)
    return float(new_low), float(new_high)


LEAVE = 1 / 3  # decades: data that left a log axis' end decade by less keep the limits


def round_limits(low: float, high: float) -> tuple[float, float]:
    """Limits around [low, high] at multiples of one significant digit of the larger of
    |low| and |high| (0.23..0.87 -> 0.2..0.9), with 3% margins: they change only when the
    data pass such a number."""
    if high <= low:
        low, high = low - 0.5 * (abs(low) or 1.0), high + 0.5 * (abs(high) or 1.0)
    step = 10.0 ** np.floor(np.log10(max(abs(low), abs(high))))
    low, high = step * np.floor(low / step), step * np.ceil(high / step)
    margin = 0.03 * (high - low)
    return float(low - margin), float(high + margin)


def position_limits(n: int, step: int = 8, current=None) -> tuple[float, float]:
    """x limits for positions 1..n (layers, time steps): up to n itself for n <= step,
    beyond it to the next multiple of `step`, so that n can change by small amounts
    without new limits; or the `current` limits while they hold n with at most one step
    more to spare (a length moving to and fro across a multiple of `step` keeps them)."""
    top = max(n if n <= step else step * int(np.ceil(n / step)), 2)
    if current is not None and current[0] == 0.5 and top <= current[1] - 0.5 <= top + step:
        return tuple(current)
    return 0.5, top + 0.5


def layer_limits(ax: Axes, n: int, step: int = 8) -> None:
    """Set `position_limits(n)` on ax's x axis, kept while they hold n (autoscaling left
    as it is)."""
    limits = position_limits(n, step, ax.get_xlim())
    if ax.get_xlim() != limits:
        ax.set_xlim(*limits, auto=None)


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
    (below one decade: at round numbers, labelled as plain numbers), so that at least 3
    ticks are labelled; call after the limits changed."""
    if ax.get_yscale() != "log":
        return
    low, high = ax.get_ylim()
    decades = np.log10(high / low) if 0 < low < high else np.inf
    if decades < 1:  # less than a decade: evenly spaced round numbers, "2.4" not "2.4x10^0"
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_round_number))
        return
    subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0, 3.0) if decades < 3 else (1.0,)
    ax.yaxis.set_major_locator(ticker.LogLocator(numticks=5, subs=subs))
    # label every major tick (matplotlib's default labels only 10^k beyond one decade)
    ax.yaxis.set_major_formatter(ticker.LogFormatterSciNotation(minor_thresholds=(np.inf,
                                                                                  np.inf)))


def _round_number(value: float, position=None) -> str:
    """A tick label: 2.4, 0.035 or 3000 as they are, far from 1 as 1.6x10^-5."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.6g}"
    exponent = int(np.floor(np.log10(abs(value))))
    return f"${value / 10.0**exponent:.6g}\\times10^{{{exponent}}}$"


REFERENCE_GREY = "#777777"  # lines that are predictions or limits, not measurements

NONFINITE_GREY = "#BBBBBB"


PALETTE = ("vermillion", "blue", "green", "orange", "purple", "sky", "black")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))


def color_of(index: int) -> str:
    """The index-th colour of the Okabe-Ito palette, cycling."""
    return COLORS[PALETTE[index % len(PALETTE)]]


def style_of(index: int) -> dict:
    """The index-th line style of chapter 3's figures: a colour and a dash pattern, so
    that lines can be told apart without colour too."""
    return {"color": color_of(index), "ls": LINE_STYLES[index % len(LINE_STYLES)]}


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


def span_two_decades(line) -> None:
    """Widen a log y axis that spans less than two decades to two whole ones, around a
    line's finite positive data, so that it shows at least three labelled powers of 10
    however flat the data are. (Call after `rescale`, whose limits it keeps otherwise;
    without such data the limits are left as they are.)"""
    data = np.asarray(line.get_ydata(), dtype=float)
    data = data[np.isfinite(data) & (data > 0)]
    low, high = np.log10(line.axes.get_ylim())
    if data.size == 0 or high - low >= 2 - 1e-9:
        return
    bottom, top = np.floor(np.log10(data.min())), np.ceil(np.log10(data.max()))
    middle = np.round((bottom + top) / 2)
    line.axes.set_ylim(10.0 ** min(bottom, middle - 1), 10.0 ** max(top, middle + 1),
                       auto=None)
