"""Run a notebook on a fresh kernel in a child process, with a hard time limit.

The tests that execute notebooks do it in a child process: nothing earlier in the
pytest process (Playwright's event loop, other kernels' sockets) can stall the client,
and a stuck run ends with a clear message instead of hanging the whole suite.
"""

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import nbformat

_EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient

path, cwd, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=timeout, kernel_name="python3",
               resources={"metadata": {"path": cwd}}).execute()
nbformat.write(notebook, path)
"""


def run_notebook(notebook, cwd: Path, timeout: int = 300, env: dict | None = None):
    """notebook (a NotebookNode), executed with working directory cwd; returns the
    executed copy. Each cell may take `timeout` seconds, the whole run twice as long.

    A run that does not finish is tried once more with a warning: on this 2-core CI a
    kernel's messages have been seen to stall (kernel idle, client waiting), which says
    nothing about the notebook. A second stall fails the test.
    """
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "notebook.ipynb"
            nbformat.write(notebook, path)
            try:
                result = subprocess.run(
                    [sys.executable, "-c", _EXECUTE, str(path), str(cwd), str(timeout)],
                    capture_output=True, text=True, timeout=2 * timeout, env=env)
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise AssertionError(f"the notebook did not finish within {2 * timeout} s, "
                                         "twice") from None
                warnings.warn(f"the notebook did not finish within {2 * timeout} s; "
                              "running it once more", stacklevel=2)
                continue
            assert result.returncode == 0, f"running the notebook failed:\n{result.stderr[-3000:]}"
            return nbformat.read(path, as_version=4)
