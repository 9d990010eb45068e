"""The core never imports the drawing layers: it must run headless, without them."""

import subprocess
import sys


def test_core_imports_without_matplotlib_or_ipywidgets():
    code = (
        "import sys, gradviz, gradviz.exercises, gradviz.theory, gradviz.train, gradviz.live;"
        "bad = [m for m in ('matplotlib', 'ipywidgets', 'IPython') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
