"""The explorers' shared machinery. Live explorers: controls + a figure + `update()`.

An explorer computes with the jitted core, then changes its artists' data in place and
calls `draw_idle()`: a slider move never rebuilds the figure and never recompiles.
With `%matplotlib widget` (ipympl) the figure is live; elsewhere (plain inline
backends, Colab) the same controls redraw a static image inside an Output widget.
"""

import base64
import importlib.util
import io
import sys
import threading

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import clear_output, display
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend

MAX_DEPTH = 64  # the deepest MLP the flow and phase-diagram explorers build
STYLE = {"description_width": "initial"}  # a control's description, never cut short
# inches: the widest figure that fits JupyterLab's notebook column in a 1280-px window
# (848 px there, with the file browser open; figures are drawn at 100 dpi)
COLUMN_WIDTH = 8.2
WRAP = widgets.Layout(flex_flow="row wrap")  # a row of controls wraps in a narrow column
# Shown above an explorer's summary when its controls' callbacks run outside the kernel's
# main thread: JupyterLab >= 4.4 sends widget messages to ipykernel >= 7's subshells, each
# a thread of its own, and matplotlib is not thread-safe (ipympl issue #610).
OFF_MAIN_THREAD = ("<b>This explorer's controls run on a kernel subshell thread, where "
                   "matplotlib can break (FreeType errors, blank figures).</b> In JupyterLab: "
                   "Settings &gt; Settings Editor &gt; Kernels &gt; Kernel Comms over "
                   "subshells: Disabled, then restart the kernel. (<code>make lab</code> and "
                   "Binder set this for you.)<br>")


def use_live_figures() -> str:
    """Choose the notebook's figure backend and return its name: ipympl's live figures
    ("widget") where they work, static images ("inline") on Colab or without ipympl.
    Explorers work with either."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return matplotlib.get_backend()
    live = "google.colab" not in sys.modules and importlib.util.find_spec("ipympl") is not None
    backend = "widget" if live else "inline"
    shell.run_line_magic("matplotlib", backend)
    if live and HIDE_HEADER not in matplotlib.rcParams["figure.hooks"]:
        matplotlib.rcParams["figure.hooks"] = [*matplotlib.rcParams["figure.hooks"], HIDE_HEADER]
    return backend


HIDE_HEADER = "gradviz.widgets.base:hide_figure_header"  # a matplotlib figure hook


def hide_figure_header(fig: Figure) -> None:
    """No "Figure 1" title above an ipympl figure, live or in the HTML copy that the
    saved notebook keeps for GitHub and nbviewer. `use_live_figures` makes pyplot call
    this on every new figure (rcParams["figure.hooks"])."""
    if hasattr(fig.canvas, "header_visible"):
        fig.canvas.header_visible = False
        fig.canvas._figure_label = ""


def in_kernel() -> bool:
    """Whether this runs inside a Jupyter kernel."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def uses_ipympl() -> bool:
    """Whether matplotlib draws through ipympl (`%matplotlib widget`)."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend == "widget"


def make_figure(figsize) -> Figure:
    """A figure that is shown only where the explorer puts it: an ipympl canvas when
    ipympl is active, else a Figure outside pyplot (never auto-displayed)."""
    if uses_ipympl():
        with plt.ioff():
            fig = plt.figure(figsize=figsize)
        hide_figure_header(fig)
        return fig
    return Figure(figsize=figsize)


class Explorer:
    """Base: holds the figure and the layout; subclasses define controls and update()."""

    def __init__(self, figsize):
        self.fig = make_figure(figsize)
        self.summary = widgets.HTML()
        self.live = isinstance(self.fig.canvas, widgets.DOMWidget)
        self.view = self.fig.canvas if self.live else widgets.Output()
        self.animated: list = []  # artists redrawn alone by blitting (see `animate`)
        self._background = None  # the rest of the figure, cached at its last full draw
        self._drawn_state = None  # every axis' limits and the static texts at that draw
        self.pinned: list = []  # legends in fixed places (see `animate`)
        self._pinned_boxes: dict = {}  # their pixels in the background at the last full draw
        self._covered: dict = {}  # legend placed "best" -> line points under it when placed

    def layout(self, controls: list) -> widgets.VBox:
        rows = [widgets.HBox(controls[i : i + 3], layout=WRAP)
                for i in range(0, len(controls), 3)]
        return widgets.VBox([*rows, self.view, self.summary])

    def animate(self, artists) -> None:
        """Blit: on a live figure, redraw only `artists` (the lines, images and texts that
        change on every update; any nesting of tuples, lists and dicts of them, such as a
        plots `FooArtists`) over a cached copy of the rest of the figure, so that a slider
        step does not re-render ticks, labels and titles. The cache is refreshed by every
        full draw, which `redraw` makes itself when an axis' limits, ticks or a title, label
        or pinned legend's text changed, and on request (`redraw(full=True)`).

        A legend among `artists` is animated (one whose texts change often). The others
        are pinned: drawn in the cached background and pasted back from it over the
        animated artists below them, which costs far less than drawing their texts anew
        (a legend takes 5-25 ms to draw here, a paste well under 1). One placed "best" is
        placed anew by a full draw as soon as more of its axes' line points lie under it
        than when it was placed: it never hides data that moved under it."""
        self.animated = sorted(artists_in(artists), key=Artist.get_zorder)
        self.pinned = [ax.get_legend() for ax in self.fig.axes
                       if ax.get_legend() and ax.get_legend() not in self.animated]
        if self.live:
            for artist in self.animated:
                artist.set_animated(True)  # left out of full draws: drawn by _draw_animated
            self.fig.canvas.mpl_connect("draw_event", self._cache_background)

    def _static_state(self) -> list:
        """What a blit cannot redraw: every axis' limits, ticks, tick labels, titles and
        labels, the pinned legends' texts, and the figure's own texts."""
        state = [self.fig.get_suptitle(), *[(t.get_text(), t.get_visible()) for t in
                                            self.fig.texts if not t.get_animated()]]
        for legend in self.pinned:
            state += [legend.get_visible(), *(text.get_text() for text in legend.get_texts())]
        for ax in self.fig.axes:
            state += [ax.get_xlim(), ax.get_ylim(), ax.get_xlabel(), ax.get_ylabel(),
                      *(ax.get_title(loc) for loc in ("left", "center", "right"))]
            for axis in (ax.xaxis, ax.yaxis):
                ticks = axis.get_majorticklocs()
                state += [sorted(axis.get_tick_params().items()), list(ticks),
                          axis.get_major_formatter().format_ticks(ticks)]
        return state

    def _cache_background(self, event) -> None:
        if event.canvas.is_saving():  # savefig draws elsewhere (another size, dpi)
            return
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self._drawn_state = self._static_state()
        self._pinned_boxes = {legend: pixel_box(legend, self.fig) for legend in self.pinned
                              if legend.get_visible()}
        self._covered = {legend: self._points_under(legend) for legend in self._pinned_boxes
                         if legend._loc == Legend.codes["best"]}
        self._draw_animated()

    def _points_under(self, legend: Legend) -> int:
        """How many points of the lines in the legend's axes lie under it (as pinned)."""
        left, top, right, bottom = self._pinned_boxes[legend]
        height = self.fig.bbox.height
        count = 0
        for line in legend.axes.lines:
            if line.get_visible() and len(line.get_xydata()):
                x, y = line.get_transform().transform(line.get_xydata()).T
                count += np.count_nonzero((left <= x) & (x <= right)
                                          & (top <= height - y) & (height - y <= bottom))
        return count

    def _legend_hides_data(self) -> bool:
        """Whether data moved under a legend placed "best" since it was placed."""
        return any(self._points_under(legend) > placed
                   for legend, placed in self._covered.items())

    def _draw_animated(self) -> None:
        """Draw the animated artists over the background, lowest zorder first, and paste
        the pinned legends back over those below them."""
        # Drawing an artist can mark its axes stale (an animated legend placing its boxes
        # did); left so, IPython's post-execute hook (run after every widget message too)
        # would ask for a full draw, which would mark them stale again: a kernel busy
        # drawing for ever.
        was_stale = {a: a.stale for a in (self.fig, *self.fig.axes)}
        for artist in sorted([*self.animated, *self._pinned_boxes], key=Artist.get_zorder):
            if artist in self._pinned_boxes:  # xy (0, 0): where the background's corner is
                self.fig.canvas.restore_region(self._background,
                                               bbox=self._pinned_boxes[artist], xy=(0, 0))
            elif artist.get_visible():
                (artist.axes or self.fig).draw_artist(artist)
        for a, stale in was_stale.items():
            if not stale:
                a.stale = False

    def redraw(self, full: bool = False) -> None:
        """Redraw after the artists changed: in place (ipympl), by blitting the animated
        artists where nothing else changed, or as a new image (static backends)."""
        if (threading.current_thread() is not threading.main_thread()
                and not self.summary.value.startswith(OFF_MAIN_THREAD)):
            self.summary.value = OFF_MAIN_THREAD + self.summary.value
        if self.live:
            canvas = self.fig.canvas
            # ipympl without a frontend yet (nbconvert --execute) would store every blit as
            # the widget's saved image, and badly: draw_idle only asks a frontend to draw
            no_frontend = getattr(canvas, "syncing_data_url", False)
            if (full or no_frontend or self._background is None
                    or self._static_state() != self._drawn_state or self._legend_hides_data()):
                self._background = None  # stale until the full draw has happened
                canvas.draw_idle()
            else:
                canvas.restore_region(self._background)
                self._draw_animated()
                canvas.blit(self.fig.bbox)
                # the picture is whole: what else changed (a locator set anew) draws the
                # same. Left stale, IPython's post-execute hook would draw it all again.
                for a in (self.fig, *self.fig.axes):
                    a.stale = False
        elif in_kernel():  # outside a kernel (tests, scripts) there is nowhere to show it
            with self.view:
                clear_output(wait=True)
                display(self.fig)

    def _ipython_display_(self):
        """The live widget, and a PNG of the figure as it is now for viewers without a
        kernel (GitHub, nbviewer, nbconvert's HTML): a live frontend shows the widget."""
        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = (f"{type(self).__name__}: a live explorer; run the notebook in "
                                "Jupyter to move its controls")
        bundle["image/png"] = figure_png(self.fig)
        display(bundle, raw=True)


def artists_in(tree) -> list[Artist]:
    """The matplotlib artists (not axes) in a nesting of tuples, lists and dicts."""
    if isinstance(tree, Artist) and not isinstance(tree, Axes):
        return [tree]
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, tuple | list):
        return [artist for item in tree for artist in artists_in(item)]
    return []


def pixel_box(artist: Artist, fig: Figure) -> tuple[int, int, int, int]:
    """The pixels an artist covers once drawn, a pixel to spare: (left, top, right,
    bottom) from the figure's top left, as Agg's restore_region takes a box."""
    box = artist.get_window_extent().padded(1)
    height = fig.bbox.height
    return (int(np.floor(box.x0)), int(np.floor(height - box.y1)),
            int(np.ceil(box.x1)), int(np.ceil(height - box.y0)))


def figure_png(fig: Figure, dpi: int = 80) -> str:
    """`fig` as a base64-encoded PNG (what a notebook output's "image/png" holds); saving
    draws the animated artists too."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def log_slider(grid, value, description: str, fmt: str, **kwargs) -> widgets.SelectionSlider:
    """A slider over the points of a log-spaced grid: (n,) values, labelled with `fmt`;
    its value is an index into the grid, starting at the point nearest `value` (in log)."""
    options = [(format(v, fmt), i) for i, v in enumerate(grid)]
    start = int(np.argmin(np.abs(np.log(np.asarray(grid) / value))))
    return widgets.SelectionSlider(options=options, value=start, description=description,
                                   **kwargs)
