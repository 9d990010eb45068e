"""The RNN explorer's figure: the gradient through time and the lag map over recurrent
scales. draw_rnn(axes, scales, max_length) -> RNNArtists; update_rnn; update_lag_map."""

from typing import NamedTuple

import numpy as np
from matplotlib import rcParams
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation

from gradviz.flow import RNNFlowStats
from gradviz.plots.style import (
    COLORS,
    few_ticks,
    finite_or_nan,
    layer_limits,
    rescale,
    span_two_decades,
)
from gradviz.summaries import overflow_message


class RNNArtists(NamedTuple):
    """The artists `draw_rnn` made, and the recurrent scales of the lag map's rows."""

    signal: Line2D  # ||dL/dh_t|| against t
    title: Text  # the left panel's title: the cell and the recurrent scale
    overflow: Text  # where inf/NaN appeared
    image: AxesImage  # log10 of the lag map: (scales, lag)
    scale_line: Line2D  # the dashed line at the current scale
    scales: np.ndarray  # (n_scales,)


def draw_rnn(axes, scales, max_length: int) -> RNNArtists:
    """Two empty panels on axes (2): the gradient through time (log y) and the lag map,
    one row per recurrent scale in scales: (n,), lags 0..max_length-1."""
    ax_time, ax_map = axes
    signal = ax_time.plot([], [], "o-", ms=2, color=COLORS["blue"])[0]
    ax_time.set(yscale="log", xlabel="time step t", ylabel="||dL/dh_t||")
    # a text, not the axes' title, so that it can change with the scale and still be
    # redrawn alone (blitting); it holds a title's place from the start (tight_layout)
    above = ScaledTranslation(0, rcParams["axes.titlepad"] / 72, ax_time.figure.dpi_scale_trans)
    title = ax_time.text(0.5, 1.0, "Gradient through time\n", transform=ax_time.transAxes + above,
                         ha="center", va="baseline", fontsize=rcParams["axes.titlesize"])
    few_ticks(ax_time)
    ax_time.set_autoscalex_on(False)  # the time axis is set by update_rnn (layer_limits)
    overflow = ax_time.text(0.02, 0.04, "", transform=ax_time.transAxes,
                            color=COLORS["vermillion"], fontweight="bold", fontsize=9)
    # diverging, centred on 1 (log10 = 0): blue decays with the lag, red grows
    image = ax_map.imshow(np.zeros((len(scales), max_length)), aspect="auto", origin="lower",
                          cmap="RdBu_r", vmin=-8, vmax=8,
                          extent=(-0.5, max_length - 0.5, 0, len(scales)))
    ax_map.set(xlabel="lag T - t", ylabel="recurrent scale",
               title=f"log10 ||dh_T/dh_t|| per unit, T = {max_length}")
    ax_map.set_yticks(np.arange(len(scales))[::3] + 0.5, scales[::3])
    scale_line = ax_map.axhline(0, color="black", ls="--", lw=1)
    ax_map.figure.colorbar(image, ax=ax_map, extend="both")
    return RNNArtists(signal, title, overflow, image, scale_line, np.asarray(scales))


def update_lag_map(artists: RNNArtists, lag_map) -> None:
    """Show a lag map: (n_scales, max_length), e.g. gradviz.experiments.rnn_lag_map's."""
    artists.image.set_data(np.log10(np.maximum(lag_map, 1e-30)))


def update_rnn(artists: RNNArtists, stats: RNNFlowStats, scale: float,
               cell: str | None = None, update_gate_bias: float = 0.0) -> None:
    """Show a gradient through time, name the cell (when given; a GRU with its update-gate
    bias) and the recurrent scale in the title, and mark the scale on the lag map."""
    signal = artists.signal
    length = len(stats.signal_norm)
    signal.set_data(np.arange(1, length + 1), finite_or_nan(stats.signal_norm))
    rescale(signal.axes)
    # the time axis ends at a multiple of 10 (the slider's 50 and 100) and keeps its end
    # while the length moves by a few steps: a small move of the length redraws only the line
    layer_limits(signal.axes, length, step=10)
    if cell == "gru":  # the gate's bias too (a full name would not fit the panel)
        name = f"GRU (gate bias {update_gate_bias:.2f}), scale {scale:.2f}"
    else:
        name = ("" if cell is None else f"{cell} RNN, ") + f"recurrent scale {scale:.2f}"
    artists.title.set_text(f"Gradient through time\n{name}")
    span_two_decades(signal)
    artists.overflow.set_text(overflow_message(stats, "step"))
    row = np.interp(scale, artists.scales, np.arange(len(artists.scales)))
    artists.scale_line.set_ydata([row + 0.5, row + 0.5])
