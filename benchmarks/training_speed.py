"""How fast does the TrainingExplorer train and redraw? Prints figures; it is not a test.

Times `gradviz.live.train_steps` (one jitted scan of n optimizer steps) for a depth-8,
width-64 MLP on the two-moons task, in chunks of 1, 10 and 50 steps, then the explorer's
tick on a live ipympl canvas (outside a browser): a chunk of 10 steps, the update of the
artists, the explorer's redraw (a blit of the animated artists, or a full draw where an
axis' limits moved; a requested full draw is made at once, as the browser would ask for
it) and the PNG ipympl encodes for the browser (refresh_all -> get_diff_image). Counts
the compilations after warm-up (0 expected). What the learner sees in the browser is measured by
benchmarks/browser_latency.py.

Run: .venv/bin/python benchmarks/training_speed.py
"""

import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib  # noqa: E402

matplotlib.use("module://ipympl.backend_nbagg")  # live canvases; their messages go nowhere

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.live import (  # noqa: E402
    Architecture,
    Hyper,
    extend,
    make_task,
    start_run,
    train_steps,
)
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
    canvas = explorer.fig.canvas
    canvas.syncing_data_url = False  # as ipympl sets it once a browser shows the figure:
    #   without a frontend the explorers never blit (see Explorer.redraw)
    full_draws = []

    def draw_idle():  # the browser asks for the full draw at once
        full_draws.append(1)
        canvas.draw()

    canvas.draw_idle = draw_idle
    explorer.step()
    ticks, redraws = [], []
    with count_compiles() as log:
        for _ in range(100):
            start = time.perf_counter()
            explorer.run, chunk_log = train_steps(explorer.run, explorer.data, explorer.arch,
                                                  explorer.hyper, explorer.steps_per_tick)
            explorer.history = extend(explorer.history, chunk_log)  # explorer.step(), timed
            middle = time.perf_counter()
            explorer.show()  # its blit or draw encodes the PNG for the browser (refresh_all)
            ticks.append(time.perf_counter() - start)
            redraws.append(time.perf_counter() - middle)
    tick = np.median(ticks)
    print(f"  explorer tick (10 steps + update + redraw + PNG), steps 20-1010: median "
          f"{tick * 1e3:.0f} ms, p95 {np.percentile(ticks, 95) * 1e3:.0f} ms; the redraw "
          f"and PNG: median {np.median(redraws) * 1e3:.0f} ms, p95 "
          f"{np.percentile(redraws, 95) * 1e3:.0f} ms ({len(full_draws) - 1} full draws in "
          f"100 ticks, the rest blits); {10 / tick:.0f} steps/s shown; {log.count} "
          "compilations")

if __name__ == "__main__":
    main()
