"""Nothing downloads at run time: the core and a notebook run with the network blocked.

Python-level connections to anything but this machine raise; JupyterLab's own kernel
channels (ZeroMQ on 127.0.0.1) are untouched."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from notebook_runner import run_notebook

BLOCK = textwrap.dedent('''
    import socket

    _connect = socket.socket.connect

    def _loopback_only(self, address, *args):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(("127.", "::1", "localhost", "/")):
            raise OSError(f"network blocked by gradviz's offline test: {address}")
        return _connect(self, address, *args)

    socket.socket.connect = _loopback_only
''')

ROOT = Path(__file__).parents[1]


def test_core_runs_offline():
    code = BLOCK + textwrap.dedent('''
        import socket
        try:
            socket.create_connection(("8.8.8.8", 53), timeout=2)
        except OSError as error:
            assert "blocked" in str(error), error
        else:
            raise AssertionError("the network was not blocked")
        import jax, optax
        import gradviz as gv
        data = gv.data.digits(64)
        params = gv.init_mlp(jax.random.PRNGKey(0), 64, 16, 4, 10)
        flow = gv.gradient_flow(params, data.x, data.y, "tanh")
        log = gv.train.train_mlp(jax.random.PRNGKey(0), params, data.x, data.y,
                                 optax.sgd(0.1), 5, activation="tanh")
        xs, y = gv.data.adding_problem(jax.random.PRNGKey(0), 4, 10)
        gv.rnn_gradient_flow(gv.init_rnn(jax.random.PRNGKey(0), 2, 4, 1), xs, y)
        assert float(gv.theory.critical_sigma_w(0.0, "tanh")) > 0.99
        print("offline ok", flow.loss, float(log.loss[-1]))
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "offline ok" in result.stdout


def test_a_notebook_runs_offline(tmp_path):
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-block-network.py").write_text(BLOCK)
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    notebook = nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(textwrap.dedent('''
        import socket
        try:
            socket.create_connection(("8.8.8.8", 53), timeout=2)
            print("network reachable")
        except OSError as error:
            print("blocked" if "blocked" in str(error) else f"other error: {error}")
    ''')))
    notebook = run_notebook(notebook, ROOT / "notebooks", timeout=120, env=env)
    assert notebook.cells[-1].outputs[0]["text"].strip() == "blocked"
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
