"""Shared pytest setup: the markers of the slower, end-to-end tests (all run by `make test`;
deselect them locally with e.g. `make test PYTEST_ARGS='-m "not browser and not binder"'`),
and freeing compiled code between test modules.

One pytest process compiles thousands of XLA functions. Each compiled CPU executable
keeps memory mappings, and Linux caps a process at vm.max_map_count (65,530 by default)
of them: a long run segfaulted inside XLA's compiler once it was past 500 tests. So
after each test module, `jax.clear_caches()` drops the compiled functions it made (a
module's "no recompilation" checks all happen inside the module).

Compiling is most of the unit tests' time (about 80% on a cold cache), so this process
compiles with XLA's backend (LLVM) optimisation off: the tests check what gradviz computes,
within rounding, against independent references, and that does not depend on how fast
XLA's code runs. The flag is read when JAX starts its CPU backend, here; the environment is
restored at once, so the kernels that nbval, the browser test and the notebook tests start
run with XLA's defaults, as a learner's do.
"""

import os

UNIT_XLA_FLAGS = "--xla_backend_optimization_level=0"
_flags = os.environ.get("XLA_FLAGS")
os.environ["XLA_FLAGS"] = f"{_flags or ''} {UNIT_XLA_FLAGS}".strip()

import jax  # noqa: E402  (after XLA_FLAGS is set)
import pytest  # noqa: E402

jax.jit(lambda x: x + 1)(1.0)  # starts the CPU backend: XLA has read its flags
if _flags is None:
    del os.environ["XLA_FLAGS"]
else:
    os.environ["XLA_FLAGS"] = _flags


# The order in which `make test` hands whole files to its two pytest-xdist workers
# (--no-loadscope-reorder keeps it): chapter 3, the longest notebook, first, then the other
# notebooks, then the browser test, then the unit tests. nbval's kernels fill JAX's
# persistent compilation cache, so the browser test, which runs every notebook again in
# JupyterLab, mostly loads compiled programs instead of compiling them again (about half
# its time), and the many short unit-test files even out the two workers at the end.
FIRST = ("notebooks/03_fixes.ipynb", "notebooks/", "tests/test_browser.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, start in enumerate(FIRST) if path.startswith(start)), len(FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: JupyterLab driven in headless Chromium")
    config.addinivalue_line("markers", "binder: builds the Binder environment in a fresh venv")


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_code():
    yield
    jax.clear_caches()
