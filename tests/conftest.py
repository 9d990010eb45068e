"""Shared pytest setup: the markers of the slower, end-to-end tests (all run by `make test`;
deselect them locally with e.g. `make test PYTEST_ARGS='-m "not browser and not binder"'`),
and freeing compiled code between test modules.

One pytest process compiles thousands of XLA functions. Each compiled CPU executable
keeps memory mappings, and Linux caps a process at vm.max_map_count (65,530 by default)
of them: a long run segfaulted inside XLA's compiler once it was past 500 tests. So
after each test module, `jax.clear_caches()` drops the compiled functions it made (a
module's "no recompilation" checks all happen inside the module).
"""

import jax
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: JupyterLab driven in headless Chromium")
    config.addinivalue_line("markers", "binder: builds the Binder environment in a fresh venv")


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_code():
    yield
    jax.clear_caches()
