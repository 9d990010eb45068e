"""Explorers are visible where there is no kernel: each one's output carries a PNG of its
figure (GitHub, nbviewer and nbconvert's HTML show it; a live frontend shows the widget)."""

import base64
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest
from nbconvert import HTMLExporter

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


def explorer_cells(notebook) -> list:
    """Code cells whose last line shows a name bound to an explorer (`x = FooExplorer(`)."""
    names = set()
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        names |= set(re.findall(r"^(\w+) = (?:gv\.widgets\.)?\w+Explorer\(", cell.source, re.M))
        lines = [line for line in cell.source.strip().splitlines() if line.strip()]
        if lines and lines[-1].strip() in names:
            cells.append(cell)
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_explorer_cell_shows_an_image_without_a_kernel(path):
    notebook = nbformat.read(path, as_version=4)
    cells = explorer_cells(notebook)
    for cell in cells:
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert pngs, f"{path.name}: the explorer cell {cell.source[:60]!r} has no PNG"
    exporter = HTMLExporter()
    for cell in cells:  # each explorer cell alone, as nbconvert's HTML shows it
        alone = nbformat.v4.new_notebook(cells=[cell], metadata=notebook.metadata)
        html, _ = exporter.from_notebook_node(alone)
        assert re.search(r'<img [^>]*src="data:image/png;base64,', html), cell.source[:60]
    assert cells or path.stem.startswith("00_"), "every chapter after the start has explorers"


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "notebooks" / "solutions").glob(
    "*.ipynb")), ids=lambda p: p.stem)
def test_no_notebook_stores_widget_state(path):
    """Saved widget state would be restored without a kernel as stale (or, for ipympl
    canvases executed headless, broken) pictures, and would make nbconvert's HTML show
    widget views instead of the explorers' PNGs: notebooks are executed with
    --ExecutePreprocessor.store_widget_state=False."""
    assert "widgets" not in nbformat.read(path, as_version=4).metadata


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "notebooks" / "solutions").glob(
    "*.ipynb")), ids=lambda p: p.stem)
def test_static_figures_have_no_figure_header(path):
    """A plain figure's saved HTML copy (what GitHub and nbviewer show) carries ipympl's
    figure label above the image: gradviz.widgets.hide_figure_header leaves it empty."""
    labels = [re.sub(r"\s+", " ", label).strip()
              for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
              for out in cell.get("outputs", [])
              for label in re.findall(r'widget-label"[^>]*>(.*?)</div>',
                                      out.get("data", {}).get("text/html", ""), re.S)]
    assert all(label == "" for label in labels), f"{path.name}: figure headers {labels}"


def test_use_live_figures_hides_every_new_figures_header(monkeypatch):
    import matplotlib.pyplot as plt

    from gradviz.widgets import base

    class Shell:  # IPython, as use_live_figures sees it (the backend is switched below)
        def run_line_magic(self, magic, backend):
            assert (magic, backend) == ("matplotlib", "widget")

    monkeypatch.setitem(matplotlib.rcParams, "figure.hooks", [])
    with monkeypatch.context() as patch:
        patch.setattr("IPython.get_ipython", lambda: Shell())
        assert base.use_live_figures() == "widget"
        assert base.use_live_figures() == "widget"  # twice: the hook is there once
    assert matplotlib.rcParams["figure.hooks"] == [base.HIDE_HEADER]
    matplotlib.use("module://ipympl.backend_nbagg")  # what %matplotlib widget does
    try:
        fig = plt.figure()
        assert not fig.canvas.header_visible and fig.canvas._figure_label == ""
        assert "Figure" not in fig.canvas._repr_mimebundle_()["text/html"]
        plt.close(fig)
    finally:
        matplotlib.use("Agg")
