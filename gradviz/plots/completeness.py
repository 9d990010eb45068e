"""The completeness explorer's figure: each quadrature rule's completeness error against
the number of steps, and its integrated-gradients map at the chosen number.
draw_completeness(ax_error, map_axes, bar_ax, table) -> CompletenessArtists;
update_completeness(artists, table, n)."""

from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colorbar import Colorbar
from matplotlib.lines import Line2D

from gradviz.integrated import Convergence
from gradviz.plots.maps import draw_maps, round_up, update_maps
from gradviz.plots.style import COLORS, few_ticks

RULE_STYLES = {"gauss-legendre": "-", "left": "--", "middle": "-.", "right": ":",
               "trapezoid": (0, (6, 2, 1, 2, 1, 2))}
RULE_MARKERS = {"gauss-legendre": "o", "left": "<", "middle": "s", "right": ">",
                "trapezoid": "^"}
RULE_PALETTE = ("blue", "vermillion", "green", "sky", "purple")  # left and right far apart
POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class CompletenessArtists(NamedTuple):
    """The artists `draw_completeness` made."""

    marker: Line2D  # the dashed line at the chosen number of steps
    images: list  # one IG map per rule
    colorbar: Colorbar  # the maps' one colour scale


def rule_maps(table: Convergence, n: int) -> list:
    """Each rule's attribution map at n steps: a list of arrays shaped like the input."""
    return list(np.asarray(table.attributions[:, n - 1]))


def draw_completeness(ax_error, map_axes, bar_ax, table: Convergence,
                      n_steps: int) -> CompletenessArtists:
    """Draw a Convergence (gradviz.integrated.convergence): |completeness error| per rule
    against steps on ax_error (log-log), the rules' maps at n_steps on map_axes (one per
    rule), and their shared colour bar beside bar_ax (which is hidden)."""
    errors = np.abs(np.asarray(table.delta))
    max_steps = len(table.n_steps)
    powers = [n for n in POWERS_OF_TWO if n <= max_steps]
    palette = [COLORS[c] for c in RULE_PALETTE]
    for method, error, color in zip(table.methods, errors, palette, strict=False):
        ax_error.loglog(table.n_steps, np.maximum(error, 1e-17), color=color,
                        ls=RULE_STYLES.get(method, "-"), marker=RULE_MARKERS.get(method),
                        markevery=[n - 1 for n in powers], ms=4, label=method)
    ax_error.set(xlabel="steps (gradient evaluations)", ylabel="|completeness error|",
                 title="Integrated gradients: completeness (float64)")
    ax_error.legend(fontsize=7)
    few_ticks(ax_error)
    ax_error.set_xticks(powers, [str(n) for n in powers])
    ax_error.xaxis.set_minor_locator(plt.NullLocator())
    marker = ax_error.axvline(n_steps, color="black", lw=1, ls="--")
    images = draw_maps(map_axes, rule_maps(table, n_steps), table.methods,
                       ["signed"] * len(table.methods))
    bar_ax.set_visible(False)
    colorbar = bar_ax.figure.colorbar(images[0], ax=bar_ax, fraction=0.5)
    colorbar.ax.tick_params(labelsize=7)
    colorbar.set_label("IG, one scale for all", fontsize=7)
    return CompletenessArtists(marker, images, colorbar)


def update_completeness(artists: CompletenessArtists, table: Convergence, n: int) -> None:
    """Show the rules' maps at n steps, all on one symmetric colour scale (the same at
    every n), and mark n."""
    every = np.abs(np.asarray(table.attributions, dtype=np.float64))
    every = every[np.isfinite(every)]
    # one scale for every rule and step count, so that maps compare across both (and a
    # step of the slider redraws only the maps)
    top = round_up(float(every.max())) if every.size and every.max() > 0 else 1.0
    update_maps(artists.images, rule_maps(table, n), ["signed"] * len(artists.images),
                tops=[top] * len(artists.images))
    artists.marker.set_xdata([n, n])
