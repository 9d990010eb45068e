"""The isometry explorer's figure: the singular values of dh_depth/dh_0 at one depth, and
the largest and smallest against depth. draw_isometry(axes, spectra, width) ->
IsometryArtists; update_isometry(artists, spectra, depth)."""

from typing import NamedTuple

import numpy as np
from matplotlib.lines import Line2D

from gradviz.plots.style import COLORS, decade_ticks, few_ticks, finite_or_nan, rescale

INIT_COLORS = {"gaussian": COLORS["vermillion"], "orthogonal": COLORS["blue"]}


class IsometryArtists(NamedTuple):
    """The artists `draw_isometry` made, per init scheme."""

    spectrum: dict  # init -> Line2D: the sorted singular values at the chosen depth
    extremes: dict  # init -> (largest, smallest): Line2Ds against depth
    depth_marker: Line2D


def draw_isometry(axes, inits, width: int, max_depth: int) -> IsometryArtists:
    """Two panels on axes (2), with a line per init scheme in inits: the spectrum of
    `width` singular values, and the largest and smallest for depths 1..max_depth."""
    ax_sorted, ax_range = axes
    units, depths = np.arange(1, width + 1), np.arange(1, max_depth + 1)
    spectrum = {init: ax_sorted.semilogy(units, np.ones(width), "o-", ms=2,
                                         color=INIT_COLORS[init], label=init)[0]
                for init in inits}
    ax_sorted.set(xlabel="singular value number (largest first)",
                  ylabel="singular value", title="Spectrum of dh_depth / dh_0")
    ax_sorted.legend(fontsize=7)
    extremes = {init: (ax_range.semilogy(depths, np.ones(max_depth), "-",
                                         color=INIT_COLORS[init], label=f"{init}: largest")[0],
                       ax_range.semilogy(depths, np.ones(max_depth), ":",
                                         color=INIT_COLORS[init], label=f"{init}: smallest")[0])
                for init in inits}
    depth_marker = ax_range.axvline(1, color="black", lw=1, ls="--")
    ax_range.set(xlabel="depth", ylabel="singular value", title="Largest and smallest")
    ax_range.legend(fontsize=7)
    for ax in (ax_sorted, ax_range):
        few_ticks(ax)
    return IsometryArtists(spectrum, extremes, depth_marker)


def update_isometry(artists: IsometryArtists, spectra: dict, depth: int) -> None:
    """Show {init: JacobianSpectra} (gradviz.isometry) at `depth`, rescaling."""
    for init, table in spectra.items():
        artists.spectrum[init].set_ydata(finite_or_nan(table.at(depth)))
        largest, smallest = artists.extremes[init]
        largest.set_ydata(finite_or_nan(table.singular_values[:, 0]))
        smallest.set_ydata(finite_or_nan(table.singular_values[:, -1]))
    artists.depth_marker.set_xdata([depth, depth])
    for ax in (next(iter(artists.spectrum.values())).axes, artists.depth_marker.axes):
        rescale(ax)
        decade_ticks(ax)
