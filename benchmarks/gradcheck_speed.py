"""How fast is a full gradient check? Prints figures; it is not a test.

A tanh MLP with about 5,000 parameters (20 inputs, 2 hidden layers of 56 units, 10
classes, batch 64, cross-entropy): every coordinate checked with central differences in
float64 (2 evaluations of the loss per coordinate), by `gradviz.gradcheck.check_gradients`
(vectorised with jax.vmap, in chunks) and by a Python loop that calls one jitted
evaluation per coordinate, the way a tutorial writes it. Both compute the same numbers.

Then the layer-by-layer check (`check_mlp_layers`) of a deep sigmoid MLP (20 hidden
layers of 64 units, 64 inputs, batch 32: about 80,000 parameters), every layer's
vector-Jacobian product in float64 (a sample of 200 coordinates per leaf), next to the
end-to-end check of the same network (a sample of 200 coordinates per leaf as well).

Run: .venv/bin/python benchmarks/gradcheck_speed.py [--repeats 3]
"""

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import gradviz as gv  # noqa: E402
from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.gradcheck import DEFAULT_EPS, check_gradients, check_mlp_layers  # noqa: E402
from gradviz.losses import loss_value  # noqa: E402

IN_DIM, WIDTH, DEPTH, CLASSES, BATCH = 20, 56, 2, 10, 64
DEEP_IN, DEEP_WIDTH, DEEP_DEPTH, DEEP_BATCH = 64, 64, 20, 32


def loss(params, x, y):
    return loss_value(gv.apply_mlp(params, x, "tanh"), y, "cross_entropy")


def python_loop(params, x, y, eps):
    """Central differences one coordinate at a time: a jitted f(theta +- eps e_i) per i."""
    with jax.enable_x64(True):
        params = jax.tree.map(lambda p: jnp.asarray(np.asarray(p, np.float64)), params)
        x = jnp.asarray(np.asarray(x, np.float64))
        theta, unravel = ravel_pytree(params)

        @jax.jit
        def both_sides(theta, i):
            step = jnp.zeros_like(theta).at[i].set(eps)
            return loss(unravel(theta + step), x, y), loss(unravel(theta - step), x, y)

        both_sides(theta, 0)[0].block_until_ready()  # compile outside the timing
        start = time.perf_counter()
        numerical = np.empty(theta.size)
        for i in range(theta.size):
            plus, minus = both_sides(theta, i)
            numerical[i] = (float(plus) - float(minus)) / (2 * eps)
        return numerical, time.perf_counter() - start


def deep_loss(params, x, y):
    return loss_value(gv.apply_mlp(params, x, "sigmoid"), y, "cross_entropy")


def timed_twice(run, repeats):
    """(result, first-call seconds, median seconds of `repeats` later calls)."""
    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    later = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        later.append(time.perf_counter() - start)
    return result, first, float(np.median(later))


def layer_by_layer(repeats: int) -> None:
    key = jax.random.PRNGKey(0)
    params = gv.init_mlp(key, DEEP_IN, DEEP_WIDTH, DEEP_DEPTH, CLASSES, init="xavier")
    x = jax.random.normal(jax.random.PRNGKey(1), (DEEP_BATCH, DEEP_IN))
    y = jnp.arange(DEEP_BATCH) % CLASSES
    n_params = sum(int(np.size(p)) for p in jax.tree.leaves(params))
    layers, first, compiled = timed_twice(
        lambda: check_mlp_layers(params, x, y, "sigmoid", max_coordinates=200), repeats)
    whole, e2e_first, e2e = timed_twice(
        lambda: check_gradients(deep_loss, params, x, y, max_coordinates=200,
                                stacked=("W", "b")), repeats)
    unresolved = [r.path for r in whole.rows if r.verdict == "unresolved"]
    print(f"\nsigmoid MLP, depth {DEEP_DEPTH}, width {DEEP_WIDTH}, {n_params} parameters, "
          f"batch {DEEP_BATCH}, float64, 200 coordinates per leaf")
    print(f"  layer by layer         {layers.outcome}, {len(layers.rows)} rows "
          f"({len(layers.names)} layers incl. the loss)")
    print(f"    first call           {first:8.2f} s")
    print(f"    compiled             {compiled:8.2f} s   (median of {repeats}; goal <= 2 s)")
    print(f"  end to end             {whole.outcome}, {len(unresolved)} of {len(whole.rows)} "
          "rows unresolved")
    print(f"    first call           {e2e_first:8.2f} s")
    print(f"    compiled             {e2e:8.2f} s   (median of {repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    key = jax.random.PRNGKey(0)
    params = gv.init_mlp(key, IN_DIM, WIDTH, DEPTH, CLASSES, init="xavier")
    x = jax.random.normal(jax.random.PRNGKey(1), (BATCH, IN_DIM))
    y = jnp.arange(BATCH) % CLASSES
    n_params = sum(int(np.size(p)) for p in jax.tree.leaves(params))

    def full_check():
        return check_gradients(loss, params, x, y, max_coordinates=None)

    with count_compiles() as first_log:
        start = time.perf_counter()
        report = full_check()
        first = time.perf_counter() - start
    times = []
    with count_compiles() as later_log:
        for _ in range(args.repeats):
            start = time.perf_counter()
            full_check()
            times.append(time.perf_counter() - start)
    vmapped = float(np.median(times))

    eps = DEFAULT_EPS["float64"]
    numerical, looped = python_loop(params, x, y, eps)
    ours = np.concatenate([report.coordinates[row.path].numerical for row in report.rows])
    np.testing.assert_allclose(ours, numerical, rtol=1e-6, atol=1e-10)  # the same numbers

    print(f"full per-coordinate gradient check, float64, eps {eps:g}: tanh MLP with "
          f"{n_params} parameters, batch {BATCH}, on {jax.devices()[0].platform} "
          f"({os.cpu_count()} cores)")
    print(f"  result                 {'passed' if report.passed else 'FAILED'}, worst leaf "
          f"{report.worst.path} ({report.worst.max_error:.1e})")
    print(f"  vmapped, first call    {first:8.2f} s   ({first_log.count} compilations)")
    print(f"  vmapped, compiled      {vmapped:8.2f} s   (median of {args.repeats}; "
          f"{later_log.count} compilations; goal <= 2 s)")
    print(f"  Python loop            {looped:8.2f} s   (one jitted call per coordinate, "
          "compiled beforehand)")
    print(f"  speed-up of vmap       {looped / vmapped:8.1f} x")
    layer_by_layer(args.repeats)


if __name__ == "__main__":
    main()
