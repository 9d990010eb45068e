"""Blitting on a live (ipympl) figure: a redraw after only the animated artists changed
redraws them alone over the cached rest of the figure, and the picture is the same as a full
draw's; a change of axis limits, or a request, makes a full draw instead."""

import matplotlib
import numpy as np
import pytest

from gradviz.widgets.base import Explorer


@pytest.fixture
def ipympl_backend():
    """Live ipympl figures for one test (outside a kernel their messages go nowhere)."""
    matplotlib.use("module://ipympl.backend_nbagg")
    yield
    matplotlib.use("Agg")


def watch(canvas) -> list:
    """Record "draw" for every full draw requested (and make it, as the browser would ask
    for it) and "blit" for every blit."""
    calls = []
    blit = canvas.blit

    def draw_idle():
        calls.append("draw")
        canvas.draw()

    canvas.draw_idle = draw_idle
    canvas.blit = lambda bbox=None: (calls.append("blit"), blit(bbox))
    return calls


def pixels(canvas) -> np.ndarray:
    return np.array(canvas.get_renderer().buffer_rgba())


class Decay(Explorer):
    def __init__(self):
        super().__init__((3, 2))
        ax = self.fig.add_subplot()
        self.line, = ax.plot(np.arange(10), np.ones(10), lw=2)
        ax.set(xlim=(0, 9), ylim=(0, 1.1), title="static title")
        self.widget = self.layout([])
        self.animate([self.line])


def test_only_the_animated_artists_are_redrawn_and_the_picture_is_a_full_draws(ipympl_backend):
    explorer = Decay()
    assert explorer.live and explorer.line.get_animated()
    calls = watch(explorer.fig.canvas)
    explorer.redraw()  # nothing cached yet: a full draw
    for rate in (0.1, 0.2, 0.3):
        explorer.line.set_ydata(np.exp(-rate * np.arange(10)))
        explorer.redraw()
    assert calls == ["draw", "blit", "blit", "blit"]
    blitted = pixels(explorer.fig.canvas)
    explorer.fig.canvas.draw()  # a full draw of the same state
    np.testing.assert_array_equal(blitted, pixels(explorer.fig.canvas))


def test_new_limits_or_a_request_make_a_full_draw(ipympl_backend):
    explorer = Decay()
    calls = watch(explorer.fig.canvas)
    explorer.redraw()
    explorer.fig.axes[0].set_ylim(0, 2)
    explorer.redraw()
    explorer.fig.axes[0].set_title("changed")
    explorer.redraw(full=True)
    explorer.redraw()
    assert calls == ["draw", "draw", "draw", "blit"]


def test_the_static_picture_includes_the_animated_artists(ipympl_backend):
    import base64
    import io

    from PIL import Image

    from gradviz.widgets.base import figure_png

    explorer = Decay()
    with_line = figure_png(explorer.fig)
    explorer.line.set_visible(False)
    without = figure_png(explorer.fig)
    as_array = [np.asarray(Image.open(io.BytesIO(base64.b64decode(png)))) for png in
                (without, with_line)]
    assert explorer.line.get_animated() and not np.array_equal(*as_array)


def test_the_training_explorer_blits_most_chunks(ipympl_backend):
    from gradviz.live import Architecture
    from gradviz.widgets import TrainingExplorer

    explorer = TrainingExplorer(arch=Architecture(depth=4, width=32), steps_per_tick=10)
    calls = watch(explorer.fig.canvas)
    for _ in range(30):
        explorer.step()
    # full draws only where the step axis reaches 20, 50, 100, 200 or a log axis a decade
    assert calls.count("blit") >= 22, calls
    blitted = pixels(explorer.fig.canvas)
    explorer.fig.canvas.draw()
    np.testing.assert_array_equal(blitted, pixels(explorer.fig.canvas))
