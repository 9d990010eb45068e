"""Matplotlib drawings of gradviz results, one module per figure family.

Each `draw_x(axes, result)` draws onto axes it is given and returns the artists it made;
the matching `update_x(artists, result)` changes those artists' data in place, so that a
live explorer never rebuilds its figure. Plots import only the core's result types and
constants (and `gradviz.summaries` for text drawn on a figure), never ipywidgets.

    style.py         COLORS (Okabe-Ito), line styles, tick and axis helpers
    flow.py          the gradient-flow figure (draw_flow, update_flow)
    rnn.py           the gradient through time and the lag map (draw_rnn, update_rnn,
                     update_lag_map)
    clipping.py      clipping's runs and first gradient (draw_clip, update_clip)
    phase.py         the phase diagram and its chosen point (draw_phase, update_phase_map,
                     update_phase)
    isometry.py      Jacobian spectra (draw_isometry, update_isometry)
    gradcheck.py     the step-size U-curve (draw_steps, update_steps)
    maps.py          attribution maps as images (draw_maps, update_maps)
    completeness.py  integrated gradients' convergence (draw_completeness,
                     update_completeness)
    fixes.py         chapter 3's comparisons of fixes (draw_fix)
    training.py      the live training figure (draw_training, update_training)

Each explorer in gradviz.widgets imports its pair from the module itself, so that
`import gradviz.plots` stays light.
"""

from gradviz.plots.fixes import draw_fix, draw_runs, draw_signal_profiles
from gradviz.plots.flow import FlowArtists, draw_flow, update_flow
from gradviz.plots.maps import INK_RANGE, MAP_STYLES, draw_maps, update_maps
from gradviz.plots.style import (
    COLORS,
    LINE_STYLES,
    NONFINITE_GREY,
    PALETTE,
    REFERENCE_GREY,
    color_of,
    decade_ticks,
    few_ticks,
    finite_or_nan,
    fit_log_ticks,
    positive_or_nan,
    rescale,
    span_two_decades,
    style_of,
)
from gradviz.plots.training import TrainingArtists, draw_training, update_training

__all__ = [
    "COLORS", "INK_RANGE", "LINE_STYLES", "MAP_STYLES", "NONFINITE_GREY", "PALETTE",
    "REFERENCE_GREY", "FlowArtists", "TrainingArtists", "color_of", "decade_ticks",
    "draw_fix", "draw_flow", "draw_maps", "draw_runs", "draw_signal_profiles",
    "draw_training", "few_ticks", "finite_or_nan", "fit_log_ticks", "positive_or_nan",
    "rescale", "span_two_decades", "style_of", "update_flow", "update_maps",
    "update_training",
]
