"""The step-size explorer's figure: the central-difference error against the step, one
U-curve per dtype. draw_steps(ax, sweeps) -> StepArtists; update_steps."""

from typing import NamedTuple

import numpy as np
from matplotlib.lines import Line2D

from gradviz.plots.style import COLORS, few_ticks

FLOOR = 1e-17  # the lowest bottom of the log axis
DTYPE_COLORS = {"float64": COLORS["blue"], "float32": COLORS["orange"]}


class StepArtists(NamedTuple):
    """The artists `draw_steps` made."""

    curves: dict  # dtype -> Line2D: relative error against eps
    good_line: Line2D  # the 'good' threshold of the chosen dtype
    marker: Line2D  # the chosen eps on the chosen dtype's curve
    bottom: float  # the bottom of the (fixed) y axis, where an error of 0 is drawn


def axis_bottom(sweeps: dict) -> float:
    """A decade below the smallest non-zero error of all sweeps (at least FLOOR): the
    axis fits the data, and stays fixed while the controls move (blitting)."""
    errors = np.concatenate([np.ravel(sweep.error) for sweep in sweeps.values()])
    positive = errors[errors > 0]
    if positive.size == 0:
        return FLOOR
    return max(FLOOR, 10.0 ** (np.floor(np.log10(positive.min())) - 1))


def draw_steps(ax, sweeps: dict) -> StepArtists:
    """Draw {dtype: StepSweep} (gradviz.gradcheck.step_size_sweep) on one log-log axis."""
    bottom = axis_bottom(sweeps)
    curves = {name: ax.loglog(sweep.eps, np.maximum(sweep.error, bottom), "o-", ms=2,
                              color=DTYPE_COLORS[name], label=name)[0]
              for name, sweep in sweeps.items()}
    good_line = ax.axhline(1.0, color="0.4", ls=":", lw=1, label="'good' threshold")
    marker = ax.plot([], [], "o", ms=9, mfc="none", mew=2, color=COLORS["black"],
                     label="chosen eps")[0]
    ax.set(xlabel="step eps", ylabel="relative error", ylim=(bottom, 10),
           title="Central differences: error against step")
    ax.legend(fontsize=9, loc="lower left")
    few_ticks(ax)
    return StepArtists(curves, good_line, marker, bottom)


def update_steps(artists: StepArtists, sweeps: dict, dtype: str, index: int,
                 good: float) -> None:
    """Mark step `index` of the `dtype` sweep, its curve in bold, and the 'good' level."""
    sweep = sweeps[dtype]
    artists.marker.set_data([float(sweep.eps[index])],
                            [max(float(sweep.error[index]), artists.bottom)])
    artists.good_line.set_ydata([good] * 2)
    for name, line in artists.curves.items():
        line.set_linewidth(2.0 if name == dtype else 0.8)
