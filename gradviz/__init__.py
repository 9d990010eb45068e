"""gradviz: see, fix, check and explain the gradients of deep networks.

The core (activations, init, models, rnn, losses, flow, theory, phase, isometry, train,
clipping, runs, gradcheck, attribution, integrated, data, examples, summaries, exercises)
is plain JAX: importable without matplotlib or ipywidgets, and jitted so that moving a
notebook slider never recompiles. `gradviz.plots` and `gradviz.widgets` draw on top of it.
"""

from gradviz import (
    attribution,
    clipping,
    data,
    examples,
    exercises,
    flow,
    gradcheck,
    integrated,
    isometry,
    losses,
    phase,
    rnn,
    runs,
    summaries,
    theory,
    train,
)
from gradviz.activations import ACTIVATION_NAMES, get_activation
from gradviz.claims import ClaimFailed, claim
from gradviz.flow import FlowStats, RNNFlowStats, gradient_flow, rnn_gradient_flow
from gradviz.init import INIT_SCHEMES, init_weight, sigma_w
from gradviz.models import NORMS, apply_mlp, init_mlp
from gradviz.rnn import apply_rnn, init_rnn

__version__ = "0.1.0"

__all__ = [
    "ACTIVATION_NAMES",
    "ClaimFailed",
    "INIT_SCHEMES",
    "NORMS",
    "FlowStats",
    "RNNFlowStats",
    "apply_mlp",
    "attribution",
    "claim",
    "clipping",
    "data",
    "examples",
    "exercises",
    "flow",
    "gradcheck",
    "integrated",
    "isometry",
    "losses",
    "phase",
    "rnn",
    "runs",
    "summaries",
    "theory",
    "train",
    "apply_rnn",
    "get_activation",
    "gradient_flow",
    "init_mlp",
    "init_rnn",
    "init_weight",
    "rnn_gradient_flow",
    "sigma_w",
]
