"""How fast do the explorers answer a control? Prints figures; it is not a test.

Drives every control of every explorer through its range, headless (Agg), and times
each change from `control.value = v` to a finished redraw of the figure
(`fig.canvas.draw()`, which a live ipympl canvas does after `draw_idle()`). Prints
median and p95 per explorer and the number of compilations after the warm-up pass.

Run: .venv/bin/python benchmarks/widget_latency.py
"""

import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.widgets import (  # noqa: E402
    MODELS,
    WIDTHS,
    ClipExplorer,
    FlowExplorer,
    IsometryExplorer,
    PhaseDiagramExplorer,
    RNNExplorer,
    StepSizeExplorer,
)


def sweep(explorer, plan) -> list[float]:
    """Set each (control, value) of `plan` in turn; return the seconds each took."""
    times = []
    for control, value in plan:
        start = time.perf_counter()
        control.value = value
        explorer.fig.canvas.draw()
        times.append(time.perf_counter() - start)
    return times


def flow_plan(ex: FlowExplorer) -> list:
    plan = [(ex.depth, d) for d in list(range(1, 65)) + list(range(63, 29, -1))]
    plan += [(ex.activation, a) for a in ex.activation.options] + [(ex.activation, "sigmoid")]
    plan += [(ex.init, i) for i in ex.init.options] + [(ex.init, "xavier")]
    plan += [(ex.scale, float(s)) for s in np.arange(0.1, 5.0, 0.1)] + [(ex.scale, 1.0)]
    plan += [(ex.bias_scale, float(b)) for b in np.arange(0.0, 2.0, 0.1)] + [(ex.bias_scale, 0.0)]
    plan += [(ex.model, m) for m in MODELS] + [(ex.model, "MLP")]
    plan += [(ex.width, w) for w in WIDTHS] + [(ex.width, 128)]
    plan += [(ex.yscale, "linear"), (ex.yscale, "log")]
    return plan


def rnn_plan(ex: RNNExplorer) -> list:
    plan = [(ex.length, n) for n in range(2, 101, 2)]
    plan += [(ex.recurrent_scale, float(s)) for s in np.arange(0.2, 2.0, 0.05)]
    plan += [(ex.cell, "gru")]
    plan += [(ex.update_gate_bias, float(b)) for b in np.arange(-2.0, 6.0, 0.5)]
    plan += [(ex.cell, "vanilla")]
    return plan


def slider_plan(slider) -> list:
    """Every value of a slider, up and back down (numeric sliders: about 40 steps)."""
    if hasattr(slider, "options"):
        values = list(slider.options)
        values = [v[1] if isinstance(v, tuple) else v for v in values]
    else:
        values = list(np.linspace(slider.min, slider.max, 40))
        values = [type(slider.value)(round(v / slider.step) * slider.step) for v in values]
    return [(slider, v) for v in values + values[-2::-1]]


def report(name: str, explorer, plan) -> None:
    FigureCanvasAgg(explorer.fig)  # a canvas that really renders (as ipympl's does)
    sweep(explorer, plan)  # warm-up: the first visit of a width or norm compiles
    with count_compiles() as log:
        times = np.array(sweep(explorer, plan)) * 1e3
    print(f"{name:14s} {len(times):4d} changes   median {np.median(times):6.1f} ms   "
          f"p95 {np.percentile(times, 95):6.1f} ms   max {times.max():6.1f} ms   "
          f"compilations after warm-up: {log.count}")


def main() -> None:
    print("value change -> finished redraw (Agg), goal: median <= 50 ms, p95 <= 100 ms, "
          "0 compilations")
    flow = FlowExplorer()
    report("FlowExplorer", flow, flow_plan(flow))
    rnn = RNNExplorer()
    report("RNNExplorer", rnn, rnn_plan(rnn))
    clip = ClipExplorer()
    n = len(clip.THRESHOLDS)
    report("ClipExplorer", clip, [(clip.threshold, i) for i in [*range(n), *range(n - 2, -1, -1)]])
    phase = PhaseDiagramExplorer()
    report("PhaseDiagram", phase, slider_plan(phase.sigma_w) + slider_plan(phase.sigma_b))
    isometry = IsometryExplorer()
    report("Isometry", isometry, slider_plan(isometry.depth))
    steps = StepSizeExplorer()
    report("StepSize", steps, slider_plan(steps.eps))


if __name__ == "__main__":
    main()
