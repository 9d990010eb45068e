"""Live explorers: controls + a figure + `update()`, one explorer per module.

An explorer computes with the jitted core, then changes its artists' data in place and
calls `draw_idle()`: a slider move never rebuilds the figure and never recompiles.
With `%matplotlib widget` (ipympl) the figure is live; elsewhere (plain inline
backends, Colab) the same controls redraw a static image inside an Output widget.

    base.py          the Explorer contract, make_figure, use_live_figures, log sliders
    flow.py          FlowExplorer            rnn.py       RNNExplorer
    clip.py          ClipExplorer            phase.py     PhaseDiagramExplorer
    isometry.py      IsometryExplorer        steps.py     StepSizeExplorer
    attribution.py   AttributionExplorer     completeness.py  CompletenessExplorer
    training.py      TrainingExplorer
    reveals.py       reveal: the answer to a "predict, then look" prompt, behind a button
"""

from gradviz.experiments import CLIP_METHODS
from gradviz.widgets.attribution import MAP_KINDS, MAP_TITLES, AttributionExplorer
from gradviz.widgets.base import (
    MAX_DEPTH,
    Explorer,
    in_kernel,
    log_slider,
    make_figure,
    use_live_figures,
    uses_ipympl,
)
from gradviz.widgets.clip import ClipExplorer
from gradviz.widgets.completeness import CompletenessExplorer
from gradviz.widgets.flow import MODELS, WIDTHS, FlowExplorer
from gradviz.widgets.isometry import IsometryExplorer
from gradviz.widgets.phase import PhaseDiagramExplorer
from gradviz.widgets.reveals import Reveal, reveal
from gradviz.widgets.rnn import RNNExplorer
from gradviz.widgets.steps import StepSizeExplorer
from gradviz.widgets.training import TrainingExplorer

__all__ = [
    "CLIP_METHODS", "MAP_KINDS", "MAP_TITLES", "MAX_DEPTH", "MODELS", "WIDTHS",
    "AttributionExplorer", "ClipExplorer", "CompletenessExplorer", "Explorer",
    "FlowExplorer", "IsometryExplorer", "PhaseDiagramExplorer", "RNNExplorer", "Reveal",
    "StepSizeExplorer", "TrainingExplorer", "in_kernel", "log_slider", "make_figure",
    "reveal", "use_live_figures", "uses_ipympl",
]
