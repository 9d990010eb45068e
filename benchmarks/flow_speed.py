"""How fast is one gradient-flow pass? Prints figures; it is not a test.

An MLP of depth 64, width 128, batch 256 (tanh, Xavier init, cross-entropy on 10
classes): compile time, median and p95 time per call of `gradviz.gradient_flow`, the
GFLOP/s it reaches, this machine's float32 matmul throughput (2048 x 2048) and the share
of it, and the speed-up over the same forward and backward pass written in NumPy the
way tutorials write it.

Run: .venv/bin/python benchmarks/flow_speed.py [--calls 30]
"""

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gradviz as gv  # noqa: E402
from gradviz.compiles import count_compiles  # noqa: E402

DEPTH, WIDTH, BATCH, IN_DIM, CLASSES = 64, 128, 256, 64, 10


def flops_per_pass() -> float:
    """Multiply-adds x 2 of the matmuls: forward, then dW and dh in the backward pass."""
    first = 2 * BATCH * IN_DIM * WIDTH
    hidden = 2 * BATCH * WIDTH * WIDTH
    readout = 2 * BATCH * WIDTH * CLASSES
    forward = first + (DEPTH - 1) * hidden + readout
    backward = 2 * forward - first  # dW for every layer, dh for all but the input
    return forward + backward


def timed(fn, calls: int) -> np.ndarray:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return np.array(times)


def numpy_flow(params: dict, x: np.ndarray, y: np.ndarray):
    """Forward and backward pass of the tanh MLP in plain NumPy, tutorial style."""
    hs = [x]
    h = x
    weights = [params["W_in"]] + list(params["W"])
    biases = [params["b_in"]] + list(params["b"])
    for W, b in zip(weights, biases, strict=True):
        h = np.tanh(h @ W + b)
        hs.append(h)
    logits = h @ params["W_out"] + params["b_out"]
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    dlogits = probs
    dlogits[np.arange(len(y)), y] -= 1
    dlogits /= len(y)
    g = dlogits @ params["W_out"].T
    signal, weight_grad = [], []
    for layer in reversed(range(len(weights))):
        signal.append(np.linalg.norm(g))
        dz = g * (1 - hs[layer + 1] ** 2)
        weight_grad.append(np.linalg.norm(hs[layer].T @ dz))
        g = dz @ weights[layer].T
    return signal[::-1], weight_grad[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()

    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (BATCH, IN_DIM))
    y = jnp.arange(BATCH) % CLASSES
    params = gv.init_mlp(key, IN_DIM, WIDTH, DEPTH, CLASSES, init="xavier")

    def run():
        return gv.gradient_flow(params, x, y, activation="tanh")

    with count_compiles() as log:
        start = time.perf_counter()
        first = run()
        first_call = time.perf_counter() - start
    times = timed(run, args.calls)
    with count_compiles() as again:
        run()
    median, p95 = np.median(times), np.percentile(times, 95)
    gflops = flops_per_pass() / median / 1e9

    a = jnp.ones((2048, 2048), jnp.float32)
    matmul = jax.jit(lambda a: a @ a)
    matmul(a).block_until_ready()
    mm_times = timed(lambda: matmul(a).block_until_ready(), 10)
    peak = 2 * 2048**3 / np.median(mm_times) / 1e9

    np_params = jax.tree.map(np.asarray, params)
    np_x, np_y = np.asarray(x), np.asarray(y)
    signal, _ = numpy_flow(np_params, np_x, np_y)
    np.testing.assert_allclose(signal, first.signal_norm, rtol=2e-3)  # same numbers
    np_times = timed(lambda: numpy_flow(np_params, np_x, np_y), args.calls)

    print(f"gradient_flow: MLP depth {DEPTH}, width {WIDTH}, batch {BATCH}, tanh, on "
          f"{jax.devices()[0].platform} ({os.cpu_count()} cores)")
    print(f"  compile (first call)   {first_call:8.2f} s   ({log.count} compilations;"
          f" {again.count} on later calls)")
    print(f"  per call, median       {1e3 * median:8.1f} ms   (goal <= 20 ms)")
    print(f"  per call, p95          {1e3 * p95:8.1f} ms   over {args.calls} calls")
    print(f"  achieved               {gflops:8.1f} GFLOP/s ({flops_per_pass() / 1e9:.2f}"
          " GFLOP per pass)")
    print(f"  matmul 2048x2048 f32   {peak:8.1f} GFLOP/s")
    print(f"  share of matmul        {100 * gflops / peak:8.1f} %    (goal >= 30 %)")
    print(f"  NumPy, tutorial style  {1e3 * np.median(np_times):8.1f} ms median")
    print(f"  speed-up over NumPy    {np.median(np_times) / median:8.1f} x    (goal >= 3x)")


if __name__ == "__main__":
    main()
