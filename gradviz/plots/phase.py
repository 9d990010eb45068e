"""The phase-diagram explorer's figure: the measured map with theory's critical line, and
the chosen point's gradient flow. draw_phase(axes, sigma_ws, sigma_bs, depth) ->
PhaseArtists; update_phase_map(artists, PhaseDiagram, critical_line); update_phase(artists,
PhasePoint, sigma_w, sigma_b)."""

from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from gradviz.experiments import PhasePoint
from gradviz.phase import PhaseDiagram
from gradviz.plots.style import COLORS, few_ticks, finite_or_nan, fit_log_ticks, rescale

NOT_FINITE = "0.45"  # the map's grey for cells without a finite gain


class PhaseArtists(NamedTuple):
    """The artists `draw_phase` made."""

    image: AxesImage  # ln gain per layer over (sigma_b, sigma_w)
    critical_line: Line2D  # mean-field theory's edge: chi = 1
    marker: Line2D  # the chosen (sigma_w, sigma_b)
    signal: Line2D  # the chosen network's ||dL/dh_l||
    theory: Line2D  # mean-field theory's prediction of it
    chosen: Text  # the flow panel's title: the chosen sigma_w and sigma_b


def draw_phase(axes, sigma_ws, sigma_bs, depth: int) -> PhaseArtists:
    """An empty map over the grid sigma_ws: (n_w,) x sigma_bs: (n_b,) and an empty flow
    panel, on axes (2); `update_phase_map` and `update_phase` fill them."""
    ax_map, ax_flow = axes
    step_w, step_b = sigma_ws[1] - sigma_ws[0], sigma_bs[1] - sigma_bs[0]
    extent = (sigma_ws[0] - step_w / 2, sigma_ws[-1] + step_w / 2,
              sigma_bs[0] - step_b / 2, sigma_bs[-1] + step_b / 2)
    # white is ln gain 0 (the edge): cells without a finite gain (the signal
    # underflowed to 0, or overflowed) get a grey of their own, named in the legend
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=NOT_FINITE)
    image = ax_map.imshow(np.zeros((len(sigma_bs), len(sigma_ws))), origin="lower",
                          aspect="auto", extent=extent, cmap=cmap, vmin=-1.0, vmax=1.0)
    # values beyond ±1 (a factor e per layer) take the colours of the arrow ends
    ax_map.figure.colorbar(image, ax=ax_map, label="ln(gain per layer)", extend="both")
    critical_line = ax_map.plot([], [], "k--", lw=1.5, label="theory: χ = 1")[0]
    marker = ax_map.plot([], [], "o", ms=9, mfc="none", mec="black", mew=2)[0]
    ax_map.set(xlabel="σ_w", ylabel="σ_b", xlim=extent[:2], ylim=extent[2:],
               title=f"Signal growth going back, depth {depth}")
    not_finite = Patch(facecolor=NOT_FINITE, edgecolor="black", lw=0.5,
                       label="no finite gain (signal underflowed to 0)")
    # below the map, so that it covers none of its cells
    ax_map.legend(handles=[critical_line, not_finite], fontsize=7, loc="upper left",
                  bbox_to_anchor=(0.0, -0.2), borderaxespad=0.0, ncols=2, frameon=False)
    signal = ax_flow.semilogy([], [], "o-", ms=3, color=COLORS["blue"],
                              label="measured ||dL/dh_l||")[0]
    theory = ax_flow.semilogy([], [], "--", color=COLORS["black"], lw=1,
                              label="mean-field prediction")[0]
    ax_flow.set(xlabel="layer l", ylabel="gradient norm")
    # a text of its own rather than the axes' title: it changes with every slider move, and
    # an animated artist is redrawn alone (blitting), where a new title redraws everything
    chosen = ax_flow.text(0.5, 1.02, "The chosen network", transform=ax_flow.transAxes,
                          ha="center", va="bottom", fontsize=matplotlib.rcParams[
                              "axes.titlesize"])
    ax_flow.legend(fontsize=7, loc="upper left")
    for ax in (ax_map, ax_flow):
        few_ticks(ax)
    return PhaseArtists(image, critical_line, marker, signal, theory, chosen)


def update_phase_map(artists: PhaseArtists, diagram: PhaseDiagram, critical) -> None:
    """Show a PhaseDiagram and theory's critical line, critical = (sigma_w: (n,),
    sigma_b: (n,)) (e.g. on a finer sigma_b grid than the map's rows: a smooth curve)."""
    artists.image.set_data(finite_or_nan(diagram.log_gain))
    artists.critical_line.set_data(*critical)


def update_phase(artists: PhaseArtists, point: PhasePoint, sigma_w: float,
                 sigma_b: float) -> None:
    """Mark (sigma_w, sigma_b) on the map and show its PhasePoint's flow and prediction."""
    artists.marker.set_data([sigma_w], [sigma_b])
    artists.chosen.set_text(f"Chosen network: σ_w {sigma_w:.2f}, σ_b {sigma_b:.2f}")
    layers = np.arange(1, len(point.stats.signal_norm) + 1)
    artists.signal.set_data(layers, finite_or_nan(point.stats.signal_norm))
    artists.theory.set_data(layers, point.predicted_signal)
    rescale(artists.signal.axes)
    fit_log_ticks(artists.signal.axes)
