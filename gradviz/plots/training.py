"""The live training figure: loss, decision boundary (or accuracy), per-layer gradient
norms as a layers x steps heat map, and per-layer update-to-data ratios.

`draw_training(axes, ...)` makes the artists once; `update_training(artists, ...)`
changes their data in place after every chunk of steps. The axes' limits move in steps
(the step axis to the next 1-2-5 round number, the log axes to whole decades), so that
most chunks change only the artists in `TrainingArtists.animated()`, which the explorer
redraws alone (blitting) instead of the whole figure.
"""

import warnings
from typing import NamedTuple

import matplotlib as mpl
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes

from gradviz.live import HEALTHY_RATIO, MAX_DEPTH, StepLog
from gradviz.plots.style import COLORS, REFERENCE_GREY, fit_log_ticks, positive_or_nan

GRID = 64  # the decision boundary's grid: GRID x GRID points
HEAT_RANGE = (-14, 2)  # log10 of the gradient norms the heat map's colours span (fixed,
#                        so that runs can be compared)
SMOOTH = 10  # the update ratios are drawn as running medians over this many steps
LAYER_COLORS = mpl.colormaps["viridis"](np.linspace(0, 0.9, MAX_DEPTH))


BOUNDARY_TITLE = "p(class 1): red 0 ... blue 1"
HEAT_TITLE = "gradient norm per layer\n(grey: 0, inf or NaN)"
HEAT_TITLE_FRESH = "gradient norm per layer\n(no steps yet)"


class TrainingArtists(NamedTuple):
    axes: tuple  # loss, boundary/accuracy, heat map, update ratio
    train_loss: object
    test_loss: object
    overflow: object  # vertical line at the first inf/NaN step (the summary names it)
    boundary: object  # image of p(class 1) on the grid
    points: object  # the training points
    accuracy: object  # test accuracy line (digits)
    heat: object  # image: log10 ||dL/dW_l||, layers x steps
    ratios: list  # one line per layer
    guide: object  # the healthy update ratio, drawn over the ratio lines

    def animated(self) -> list:
        """The artists an update changes (and the guide line, which stays on top of them)."""
        return [self.train_loss, self.test_loss, self.overflow, self.boundary, self.points,
                self.accuracy, self.heat, *self.ratios, self.guide]


def boundary_grid(x_train) -> tuple[np.ndarray, tuple]:
    """GRID^2 points (GRID^2, 2) covering the data with a margin, and their extent."""
    low, high = np.min(x_train, axis=0) - 0.5, np.max(x_train, axis=0) + 0.5
    xs, ys = np.linspace(low[0], high[0], GRID), np.linspace(low[1], high[1], GRID)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return points, (low[0], high[0], low[1], high[1])


def draw_training(axes, x_train, y_train, extent) -> TrainingArtists:
    """Empty panels for a run on (x_train, y_train); `extent` of the boundary grid."""
    ax_loss, ax_map, ax_heat, ax_ratio = axes
    train, = ax_loss.plot([], [], color=COLORS["blue"], label="train (batch)")
    test, = ax_loss.plot([], [], color=COLORS["orange"], ls="--", label="test")
    overflow = ax_loss.axvline(0, color=COLORS["vermillion"], lw=1, visible=False)
    ax_loss.set(yscale="log", xlabel="step", ylabel="cross-entropy", title="loss")
    ax_loss.legend(fontsize=7, loc="lower left")
    boundary = ax_map.imshow(np.full((GRID, GRID), 0.5), origin="lower", extent=extent,
                             cmap="RdBu", vmin=0, vmax=1, alpha=0.6, aspect="auto")
    points = ax_map.scatter(*np.asarray(x_train).T, c=np.asarray(y_train), cmap="RdBu", s=8,
                            vmin=0, vmax=1, edgecolors="k", linewidths=0.3)
    accuracy, = ax_map.plot([], [], color=COLORS["green"], visible=False)
    ax_map.set(title=BOUNDARY_TITLE)
    cmap = mpl.colormaps["magma"].with_extremes(bad="#9e9e9e")  # grey: 0, inf or NaN
    heat = ax_heat.imshow(np.full((MAX_DEPTH, 2), np.nan), origin="lower", aspect="auto",
                          cmap=cmap, interpolation="nearest", vmin=HEAT_RANGE[0],
                          vmax=HEAT_RANGE[1], extent=(0, 1, 0.5, MAX_DEPTH + 0.5))
    ax_heat.figure.colorbar(heat, ax=ax_heat, label="log10 ||dL/dW_l||")
    ax_heat.set(xlabel="step", ylabel="layer l", title=HEAT_TITLE_FRESH)
    ratios = [ax_ratio.plot([], [], color=LAYER_COLORS[i], lw=1)[0] for i in range(MAX_DEPTH)]
    guide = ax_ratio.axhline(HEALTHY_RATIO, color=REFERENCE_GREY, ls="--", lw=1, zorder=5)
    ax_ratio.set(yscale="log", xlabel="step", ylabel="||ΔW_l|| / ||W_l||",
                 title=f"update ratio ({SMOOTH}-step median)\n"
                       f"dark: layer 1; dashed: {HEALTHY_RATIO:.0e}")
    for ax in (ax_loss, ax_heat, ax_ratio):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5, integer=True))
    ax_heat.yaxis.set_major_locator(ticker.MaxNLocator(8, integer=True))
    return TrainingArtists(tuple(axes), train, test, overflow, boundary, points, accuracy,
                           heat, ratios, guide)


def show_task(artists: TrainingArtists, x_train, y_train, extent, two_d: bool) -> None:
    """Point the middle panel at a new task: its points and boundary (2-D), or accuracy."""
    ax = artists.axes[1]
    for artist in (artists.boundary, artists.points):
        artist.set_visible(two_d)
    artists.accuracy.set_visible(not two_d)
    if two_d:
        artists.points.set_offsets(np.asarray(x_train))
        artists.points.set_array(np.asarray(y_train))
        artists.boundary.set_extent(extent)
        ax.set(xlim=extent[:2], ylim=extent[2:], title=BOUNDARY_TITLE,
               xlabel="", ylabel="")
    else:
        ax.set(ylim=(0, 1), title="test accuracy", xlabel="step", ylabel="accuracy")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5, integer=True))


def update_training(artists: TrainingArtists, history: StepLog | None, depth: int,
                    probability=None) -> None:
    """Show `history` (None: a fresh run) for a network of `depth` hidden layers, and the
    boundary probabilities (GRID^2,) on a 2-D task."""
    if probability is not None:
        artists.boundary.set_data(np.asarray(probability).reshape(GRID, GRID))
    ax_loss, ax_map, ax_heat, ax_ratio = artists.axes
    if history is None or len(history.step) == 0:
        for line in (artists.train_loss, artists.test_loss, artists.accuracy, *artists.ratios):
            line.set_data([], [])
        artists.overflow.set_visible(False)
        artists.heat.set_data(np.full((depth, 2), np.nan))
        artists.heat.set_extent((0, 1, 0.5, depth + 0.5))
        ax_heat.set(xlim=(0, 1), ylim=(0.5, depth + 0.5), title=HEAT_TITLE_FRESH)
        ax_loss.set(xlim=(0, 1), ylim=(0.1, 3))  # a fresh run's axes, until it has data
        ax_ratio.set(xlim=(0, 1), ylim=(1e-6, 1))
        for ax in (ax_loss, ax_ratio):
            fit_log_ticks(ax)
            ax.yaxis.set_minor_locator(ticker.NullLocator())
        return
    steps = history.step
    span = (0, round_up(steps[-1]))  # moves only when the run passes a round number
    artists.train_loss.set_data(steps, positive_or_nan(history.loss))
    artists.test_loss.set_data(steps, positive_or_nan(history.test_loss))
    bad = np.flatnonzero(history.nonfinite)
    artists.overflow.set_visible(bad.size > 0)
    if bad.size:
        artists.overflow.set_xdata([steps[bad[0]]] * 2)
    artists.accuracy.set_data(steps, history.test_accuracy)
    ax_loss.set_xlim(*span)
    ax_ratio.set_xlim(*span)
    if artists.accuracy.get_visible():
        ax_map.set_xlim(*span)
    _fit_log(ax_loss, [history.loss, history.test_loss])
    log_norm = np.log10(positive_or_nan(history.grad_norm[:, :depth].T))
    artists.heat.set_data(log_norm)
    artists.heat.set_extent((steps[0] - 0.5, steps[-1] + 0.5, 0.5, depth + 0.5))
    ax_heat.set(xlim=span, ylim=(0.5, depth + 0.5), title=HEAT_TITLE)
    smooth = running_median(positive_or_nan(history.update_ratio[:, :depth]), SMOOTH)
    for i, line in enumerate(artists.ratios):
        line.set_visible(i < depth)
        line.set_data((steps, smooth[:, i]) if i < depth else ([], []))
    _fit_log(ax_ratio, [smooth, [HEALTHY_RATIO]])


def round_up(n: float) -> float:
    """The smallest 1, 2 or 5 x 10^k that is >= n (and >= 1): 7 -> 10, 10 -> 10, 11 -> 20."""
    n = max(float(n), 1.0)
    decade = 10.0 ** np.floor(np.log10(n))
    return next(m * decade for m in (1, 2, 5, 10) if m * decade >= n * (1 - 1e-12))


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """The median of each row and the window - 1 rows before it (fewer at the start),
    ignoring NaN; values: (steps, k) -> (steps, k)."""
    padded = np.concatenate([np.full((window - 1, values.shape[1]), np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        return np.nanmedian(windows, axis=-1)


def _fit_log(ax: Axes, values) -> None:
    """Log y limits at the whole decades around the positive finite values (at least one
    decade), so that they change only when the values cross a power of ten."""
    flat = np.concatenate([positive_or_nan(v).ravel() for v in values])
    flat = flat[np.isfinite(flat)]
    if flat.size:
        low = 10.0 ** np.floor(np.log10(flat.min()))
        high = max(10.0 ** np.ceil(np.log10(flat.max())), 10 * low)
        if ax.get_ylim() != (low, high):
            ax.set_ylim(low, high)
            fit_log_ticks(ax)
            ax.yaxis.set_minor_locator(ticker.NullLocator())  # unlabelled, each costs a redraw
