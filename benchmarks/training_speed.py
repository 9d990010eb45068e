"""How fast does the TrainingExplorer train and redraw? Prints figures; it is not a test.

Times `gradviz.live.train_steps` (one jitted scan of n optimizer steps) for a depth-8,
width-64 MLP on the two-moons task, in chunks of 1, 10 and 50 steps, then the explorer's
tick: a chunk of 10 steps plus the update of every artist and a full Agg redraw
(`fig.canvas.draw()`, what a live ipympl canvas does after `draw_idle()`). Counts the
compilations after warm-up (0 expected).

Run: .venv/bin/python benchmarks/training_speed.py
"""

import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.live import Architecture, Hyper, make_task, start_run, train_steps  # noqa: E402
from gradviz.widgets import TrainingExplorer  # noqa: E402


def main() -> None:
    task = make_task("moons", noise=0.2)
    arch, hyper = Architecture(depth=8, width=64), Hyper(optimizer="adam", batch_size=64)
    run = start_run(jax.random.PRNGKey(0), task, arch, hyper)
    print(f"depth 8, width 64, two moons, Adam, batch 64, {os.cpu_count()} cores")
    for chunk in (1, 10, 50):
        start = time.perf_counter()
        run, _ = train_steps(run, task, arch, hyper, chunk)
        compile_s = time.perf_counter() - start
        times = []
        with count_compiles() as log:
            for _ in range(max(5, 200 // chunk)):
                start = time.perf_counter()
                run, _ = train_steps(run, task, arch, hyper, chunk)
                times.append(time.perf_counter() - start)
        per_step = np.median(times) / chunk
        print(f"  chunks of {chunk:2d}: {1 / per_step:7.0f} steps/s "
              f"({np.median(times) * 1e3:.1f} ms a chunk; first call {compile_s:.1f} s, "
              f"{log.count} compilations after it)")
    explorer = TrainingExplorer(arch=arch, hyper=hyper, steps_per_tick=10)
    FigureCanvasAgg(explorer.fig)  # outside a notebook the figure has no drawing canvas
    explorer.step()
    explorer.fig.canvas.draw()
    ticks, draws = [], []
    with count_compiles() as log:
        for _ in range(30):
            start = time.perf_counter()
            explorer.step()
            middle = time.perf_counter()
            explorer.fig.canvas.draw()
            ticks.append(time.perf_counter() - start)
            draws.append(time.perf_counter() - middle)
    tick = np.median(ticks)
    print(f"  explorer tick (10 steps + update + Agg redraw): median {tick * 1e3:.0f} ms, "
          f"p95 {np.percentile(ticks, 95) * 1e3:.0f} ms, of which the redraw "
          f"{np.median(draws) * 1e3:.0f} ms: {10 / tick:.0f} steps/s shown; "
          f"{log.count} compilations")


if __name__ == "__main__":
    main()
