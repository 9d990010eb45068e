"""Explorers are visible where there is no kernel: each one's output carries a PNG of its
figure (GitHub, nbviewer and nbconvert's HTML show it; a live frontend shows the widget)."""

import base64
from pathlib import Path

import matplotlib

from gradviz.widgets.base import Explorer

matplotlib.use("Agg")

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Tiny(Explorer):
    def __init__(self):
        super().__init__((2, 1.5))
        self.fig.add_subplot().plot([0, 1], [1, 0])
        self.widget = self.layout([])


def test_an_explorer_is_displayed_with_a_png_of_its_figure(monkeypatch):
    shown = []
    monkeypatch.setattr("gradviz.widgets.base.display",
                        lambda bundle, raw: shown.append((bundle, raw)))
    explorer = Tiny()
    explorer._ipython_display_()
    ((bundle, raw),) = shown
    assert raw and base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    assert bundle["text/plain"].startswith("Tiny: a live explorer; run the notebook")
    assert "application/vnd.jupyter.widget-view+json" in bundle
