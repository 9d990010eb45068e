"""Gradient checking with central differences: end to end, and layer by layer.

A gradient (from `jax.grad`, a hand-written backward pass or a custom gradient rule) is
compared with the numerical derivative (f(p + eps e_i) - f(p - eps e_i)) / (2 eps), and
each coordinate's difference is explained by round-off, truncation or a kink, or judged
by bands. One concept per module:

    errors.py       the error model: round-off, Richardson, kinks, bands, `verdict`
    evaluation.py   f at many perturbed parameters at once (vmapped, float64 on demand)
    report.py       the result types (a row per leaf) and their text view
    end_to_end.py   `check_gradients`, `step_size_sweep`
    layers.py       `check_layers`; the gradviz MLP as layers: `mlp_layers`, `check_mlp_layers`

A report passes only when no leaf is unresolved and every resolved coordinate agreed. A
bug confined to unresolved coordinates cannot be seen: leaves that stack layers (the
gradviz MLP's "W") should be split into one row per layer with `stacked=`, or checked
layer by layer with `check_layers`, which certifies each layer's vector-Jacobian product
where the end-to-end gradient is too small to resolve.

The two-layer network with planted bugs that chapter 4 checks lives in `gradviz.examples`.
"""

from gradviz.gradcheck.end_to_end import EPS_GRID, check_gradients, step_size_sweep
from gradviz.gradcheck.errors import (
    BANDS,
    DEFAULT_EPS,
    DTYPES,
    FAILING,
    KINK_AGREEMENT,
    MACHINE_EPS,
    NOISE_ULPS,
    PASSING,
    RESOLVE,
    VERDICTS,
    CoordinateChecks,
    leaf_verdict,
    relative_error,
    verdict,
)
from gradviz.gradcheck.evaluation import CHUNK
from gradviz.gradcheck.layers import (
    MLPLayer,
    affine_layer,
    check_layers,
    check_mlp_layers,
    mlp_layers,
)
from gradviz.gradcheck.report import (
    DirectionalCheck,
    GradCheckReport,
    LayerwiseReport,
    LeafCheck,
    StepSweep,
)

__all__ = [
    "BANDS",
    "CHUNK",
    "DEFAULT_EPS",
    "DTYPES",
    "EPS_GRID",
    "FAILING",
    "KINK_AGREEMENT",
    "MACHINE_EPS",
    "NOISE_ULPS",
    "PASSING",
    "RESOLVE",
    "VERDICTS",
    "CoordinateChecks",
    "DirectionalCheck",
    "GradCheckReport",
    "LayerwiseReport",
    "LeafCheck",
    "MLPLayer",
    "StepSweep",
    "affine_layer",
    "check_gradients",
    "check_layers",
    "check_mlp_layers",
    "leaf_verdict",
    "mlp_layers",
    "relative_error",
    "step_size_sweep",
    "verdict",
]
