"""Training throughput: N runs vmapped at once against the same runs one by one.

The digits MLP of chapter 3 (depth 10, width 32, tanh, SGD with momentum, minibatches of
128, test accuracy at every step) trained from N seeds: once with
`gradviz.train.train_mlp_seeds` (one jax.vmap over the seeds), once as N separate calls
of `train_mlp`. Printed: compile and run time of each, and steps per second (N x steps /
run time). Prints figures; it is not a test.

Run: .venv/bin/python benchmarks/train_throughput.py [--runs 8 --steps 200]
"""

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gradviz as gv  # noqa: E402
from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.train import train_mlp, train_mlp_seeds  # noqa: E402

WIDTH, DEPTH, BATCH = 32, 10, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    digits = gv.data.digits()
    x, y, x_test, y_test = digits.x[:1500], digits.y[:1500], digits.x[1500:], digits.y[1500:]
    keys = jax.random.split(jax.random.PRNGKey(0), args.runs)
    optimizer = optax.sgd(0.02, momentum=0.9)
    options = dict(batch_size=BATCH, activation="tanh", x_test=x_test, y_test=y_test)

    def vmapped():
        log = train_mlp_seeds(keys, x, y, optimizer, args.steps, WIDTH, DEPTH, **options)
        return jax.block_until_ready(log.loss)

    inits = [gv.init_mlp(jax.random.split(k)[0], 64, WIDTH, DEPTH, 10, init="xavier")
             for k in keys]
    batch_keys = [jax.random.split(k)[1] for k in keys]

    def one_by_one():
        losses = [train_mlp(k, p, x, y, optimizer, args.steps, **options).loss
                  for k, p in zip(batch_keys, inits, strict=True)]
        return jax.block_until_ready(losses)

    results = {}
    for name, fn in (("vmapped", vmapped), ("one by one", one_by_one)):
        with count_compiles() as log:
            start = time.perf_counter()
            first = fn()
            first_time = time.perf_counter() - start
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        results[name] = (first_time, log, float(np.median(runs)), first)
    np.testing.assert_allclose(np.asarray(results["vmapped"][3]),
                               np.stack(results["one by one"][3]), rtol=1e-3, atol=1e-5)

    total_steps = args.runs * args.steps
    print(f"train throughput: {args.runs} runs x {args.steps} steps, MLP depth {DEPTH}, width "
          f"{WIDTH}, batch {BATCH} (+ {len(x_test)} test images per step), on "
          f"{jax.devices()[0].platform} ({os.cpu_count()} cores); same losses both ways")
    for name, (first_time, log, run, _) in results.items():
        print(f"  {name:10s}  first call {first_time:6.2f} s ({log.count} compilations, "
              f"{sum(log.seconds):.2f} s compiling); then {run:6.2f} s = "
              f"{total_steps / run:8.0f} steps/s")
    speedup = results["one by one"][2] / results["vmapped"][2]
    print(f"  vmap speed-up (run time, after compiling): {speedup:.1f}x")


if __name__ == "__main__":
    main()
