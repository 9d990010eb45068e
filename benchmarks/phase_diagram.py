"""How long does the edge-of-chaos phase diagram take? Prints figures; it is not a test.

`gradviz.phase.phase_diagram` measures the log gain per layer of the backpropagated
signal for every (sigma_b, sigma_w) of a grid of MLPs at initialisation, in one jitted,
doubly vmapped pass. Printed: the grid size, the first call (compile + run), later calls
(run only, median), the same grid with another activation (no compile), and the same
points one by one through `gradient_flow` (the per-point loop the vmap replaces).

Run: .venv/bin/python benchmarks/phase_diagram.py [--n-w 24 --n-b 16 --depth 30 --width 64]
"""

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flow_speed import timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import gradviz as gv  # noqa: E402
from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.phase import phase_diagram, scale_mlp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-w", type=int, default=24)
    parser.add_argument("--n-b", type=int, default=16)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--loop-points", type=int, default=20,
                        help="points timed one by one (the loop's time is scaled up)")
    args = parser.parse_args()

    data = gv.data.digits(args.batch)
    unit = gv.init_mlp(jax.random.PRNGKey(0), 64, args.width, args.depth, 10,
                       init="gaussian", scale=1.0, bias_scale=1.0)
    sigma_ws = np.linspace(0.25, 4.0, args.n_w)
    sigma_bs = np.linspace(0.0, 1.5, args.n_b)
    points = args.n_w * args.n_b

    def grid(activation="tanh"):
        return phase_diagram(unit, data.x, data.y, sigma_ws, sigma_bs, activation)

    with count_compiles() as first_log:
        start = time.perf_counter()
        grid()
        first = time.perf_counter() - start
    runs = timed(grid, args.calls)
    with count_compiles() as relu_log:
        relu = timed(lambda: grid("relu"), 1)[0]

    def one_point(sw, sb):
        params = scale_mlp(unit, float(sw), float(sb))
        return gv.gradient_flow(params, data.x, data.y, "tanh").signal_norm

    one_point(1.0, 0.0)  # compile the per-point function first
    pairs = [(sw, sb) for sb in sigma_bs for sw in sigma_ws][: args.loop_points]
    start = time.perf_counter()
    for sw, sb in pairs:
        one_point(sw, sb)
    per_point = (time.perf_counter() - start) / len(pairs)

    print(f"phase diagram: {args.n_b} sigma_b x {args.n_w} sigma_w = {points} networks, depth "
          f"{args.depth}, width {args.width}, batch {args.batch}, tanh, on "
          f"{jax.devices()[0].platform} ({os.cpu_count()} cores)")
    print(f"  first call (compile + run) {first:7.2f} s   ({first_log.count} compilations, "
          f"{sum(first_log.seconds):.2f} s of them compiling)")
    print(f"  later calls, median        {np.median(runs):7.2f} s   "
          f"({1e3 * np.median(runs) / points:.2f} ms per network)")
    print(f"  relu, same grid            {relu:7.2f} s   ({relu_log.count} compilations)")
    print(f"  one by one (gradient_flow) {per_point * points:7.2f} s   (estimated from "
          f"{len(pairs)} points, {1e3 * per_point:.1f} ms each): vmap is "
          f"{per_point * points / np.median(runs):.1f}x faster")


if __name__ == "__main__":
    main()
