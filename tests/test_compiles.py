"""count_compiles: every compilation counts, whether XLA ran or the disk cache answered."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.compiles import count_compiles

PROGRAM = """
import jax, jax.numpy as jnp, numpy as np
from gradviz.compiles import count_compiles
f = jax.jit(lambda x: jnp.tanh(x) * 3.0)
x = np.ones(7, np.float32)
hits = []
jax.monitoring.register_event_listener(
    lambda event, **_: hits.append(1) if event == "/jax/compilation_cache/cache_hits" else None)
with count_compiles() as log:
    f(x)
    f(x)
print(log.count, len(hits))
"""


def test_a_new_shape_counts_once_and_a_repeat_not_at_all():
    f = jax.jit(lambda x: jnp.sin(x) + 1.0)
    x = np.ones(5, np.float32)  # a NumPy input: making it compiles nothing
    with count_compiles() as log:
        f(x)
        f(x)
    assert log.count == 1
    with count_compiles() as log:
        f(x)
        f(np.ones(5, np.float32))
    assert log.count == 0
    with count_compiles() as log:
        f(np.ones(6, np.float32))
    assert log.count == 1


def test_a_program_loaded_from_the_persistent_cache_still_counts(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(tmp_path),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")

    def run() -> list[int]:
        out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                             text=True, timeout=120, check=True)
        return [int(n) for n in out.stdout.split()]

    assert run() == [1, 0]  # compiled by XLA, written to the cache
    assert any(tmp_path.iterdir())
    assert run() == [1, 1]  # a new process: loaded from disk, counted all the same


def test_the_unit_tests_compile_without_backend_optimisation_but_their_kernels_do_not():
    """tests/conftest.py turns XLA's backend optimisation off for this process only: the
    environment that nbval's, the browser test's and the notebook tests' kernels inherit
    is the one `make test` set."""
    import os

    from conftest import UNIT_XLA_FLAGS

    assert UNIT_XLA_FLAGS not in os.environ.get("XLA_FLAGS", "")
