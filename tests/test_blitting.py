"""Blitting on a live (ipympl) figure: a redraw after only the animated artists changed
redraws them alone over the cached rest of the figure, and the picture is the same as a full
draw's; a change of axis limits, or a request, makes a full draw instead. Every explorer
keeps at least 3 labelled ticks on every axis through its moves."""

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
    for it) and "blit" for every blit, as with a frontend connected."""
    canvas.syncing_data_url = False  # what ipympl does when the frontend says "initialized"
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


class Legended(Explorer):
    """Two lines, each named in a legend of its own axes: one pinned (upper right), one
    placed "best"."""

    def __init__(self, animate_legend=False):
        super().__init__((3, 4))
        top, bottom = self.fig.subplots(2)
        self.line, = top.plot(np.arange(10), np.zeros(10), lw=3, label="decay")
        self.other, = bottom.plot(np.arange(10), np.zeros(10), label="other")
        for ax in (top, bottom):
            ax.set(xlim=(0, 9), ylim=(-0.1, 1.1))
        self.pinned_legend = top.legend(loc="upper right")
        self.best_legend = bottom.legend(loc="best")
        self.widget = self.layout([])
        self.animate([self.line, self.other, self.pinned_legend if animate_legend else []])


def test_a_pinned_legend_is_pasted_over_the_lines_and_a_new_text_redraws_it(ipympl_backend):
    explorer = Legended()
    legend = explorer.pinned_legend
    assert explorer.pinned == [legend, explorer.best_legend] and not legend.get_animated()
    calls = watch(explorer.fig.canvas)
    explorer.redraw()
    left, top, right, bottom = explorer._pinned_boxes[legend]
    alone = pixels(explorer.fig.canvas)[top:bottom, left:right]
    explorer.line.set_ydata(np.ones(10))  # now under the legend
    explorer.redraw()
    assert calls == ["draw", "blit"]
    np.testing.assert_array_equal(pixels(explorer.fig.canvas)[top:bottom, left:right], alone)
    blitted = pixels(explorer.fig.canvas)
    explorer.fig.canvas.draw()  # the same picture as a full draw
    np.testing.assert_array_equal(blitted, pixels(explorer.fig.canvas))
    legend.get_texts()[0].set_text("decay, faster")  # a pinned legend's text is in the
    explorer.redraw()  # background: a full draw
    assert calls[-1] == "draw"


def test_a_legend_among_the_animated_artists_is_redrawn_with_its_new_texts(ipympl_backend):
    explorer = Legended(animate_legend=True)
    legend = explorer.pinned_legend
    assert explorer.pinned == [explorer.best_legend] and legend in explorer.animated
    calls = watch(explorer.fig.canvas)
    explorer.redraw()
    legend.get_texts()[0].set_text("decay: diverged at step 1")
    explorer.redraw()
    assert calls == ["draw", "blit"]
    blitted = pixels(explorer.fig.canvas)
    explorer.fig.canvas.draw()
    np.testing.assert_array_equal(blitted, pixels(explorer.fig.canvas))


def test_a_legend_placed_best_moves_when_the_data_move_under_it(ipympl_backend):
    explorer = Legended()
    legend, line = explorer.best_legend, explorer.other
    calls = watch(explorer.fig.canvas)
    explorer.redraw()
    placed = legend.get_window_extent()  # away from the line along the bottom
    line.set_ydata(np.full(10, 0.02))  # a little higher: still clear of it
    explorer.redraw()
    assert calls == ["draw", "blit"]
    line.set_ydata(np.full(10, placed_height(legend)))  # right under it
    explorer.redraw()
    assert calls[-1] == "draw" and explorer._points_under(legend) == 0
    assert legend.get_window_extent() != placed  # placed anew, away from the data


def placed_height(legend) -> float:
    """The data height of the middle of a legend, in its axes."""
    box = legend.get_window_extent()
    return legend.axes.transData.inverted().transform((box.x0, (box.y0 + box.y1) / 2))[1]


def _explorers():
    """(name, factory, moves): each explorer, small, and the control moves a learner makes
    (control attribute, value), small steps first (which should blit) then big ones."""
    import jax
    import jax.numpy as jnp

    import gradviz as gv
    from gradviz import widgets as w

    def mlp():
        return gv.init_mlp(jax.random.PRNGKey(0), 64, 32, 3, 10, init="xavier")

    def digits():
        return gv.data.digits(32)

    return [
        ("flow", lambda: w.FlowExplorer(depth=12, width=32),
         [("depth", 13), ("depth", 14), ("scale", 1.05), ("depth", 40), ("activation", "relu"),
          ("yscale", "linear"), ("depth", 41)]),
        ("rnn", lambda: w.RNNExplorer(length=20, max_length=40),
         [("length", 21), ("length", 22), ("recurrent_scale", 1.5), ("cell", "gru")]),
        ("clip", lambda: w.ClipExplorer(steps=40, length=10, hidden=8),
         [("threshold", 5), ("threshold", 6), ("threshold", 0)]),
        ("phase", lambda: w.PhaseDiagramExplorer(depth=10, width=16, n_w=6, n_b=4,
                                                 n_examples=16),
         [("sigma_w", 1.05), ("sigma_w", 1.1), ("sigma_b", 0.5), ("activation", "relu")]),
        ("isometry", lambda: w.IsometryExplorer(depth=6, width=16, max_depth=16),
         [("depth", 7), ("depth", 8), ("activation", "linear"), ("depth", 16)]),
        ("steps", lambda: w.StepSizeExplorer(),
         [("eps", 20), ("eps", 21), ("dtype", "float32")]),
        ("attribution", lambda: w.AttributionExplorer(
            {"untrained": (mlp(), "tanh")}, digits().x[:4], digits().y[:4],
            {"zeros": jnp.zeros(64)}, n_steps=4, ink=lambda image: 8 + 4 * image),
         [("example", 1), ("example", 2)]),
        ("completeness", lambda: w.CompletenessExplorer(mlp(), digits().x[0], 3, n_steps=4,
                                                        max_steps=16),
         [("steps", 5), ("steps", 6), ("steps", 16)]),
    ]


def unreadable_axes(fig) -> list[str]:
    """The axes of `fig` with fewer than 3 labelled ticks within their limits."""
    found = []
    for ax in fig.axes:
        for name, axis, limits in (("x", ax.xaxis, ax.get_xlim()), ("y", ax.yaxis, ax.get_ylim())):
            locs = axis.get_majorticklocs()
            if not (ax.get_visible() and axis.get_visible() and len(locs)):
                continue  # an axis without ticks on purpose (an image's)
            low, high = sorted(limits)
            inside = [t for t in locs if low <= t <= high]
            labels = [str(t).strip() for t in axis.get_major_formatter().format_ticks(inside)]
            if sum(bool(label) for label in labels) < 3:
                found.append(f"{ax.get_title()!r} {name} axis over {limits}: labels {labels}")
    return found


@pytest.mark.parametrize("name", [name for name, _, _ in _explorers()])
def test_every_explorer_blits_small_moves_and_shows_what_a_full_draw_shows(ipympl_backend,
                                                                           name):
    (make, moves), = [(m, v) for n, m, v in _explorers() if n == name]
    explorer = make()
    explorer.fig.stale_callback = None  # as in IPython, where pyplot draws stale figures
    #   in a post-execute hook instead (which ipykernel runs after every widget message)
    calls = watch(explorer.fig.canvas)
    explorer.redraw()
    for control, value in moves:
        getattr(explorer, control).value = value
        assert not explorer.fig.stale, f"{name} after {control} = {value!r}: left stale"
        shown = pixels(explorer.fig.canvas)
        explorer.fig.canvas.draw()  # what a full draw of the same state shows
        np.testing.assert_array_equal(shown, pixels(explorer.fig.canvas),
                                      err_msg=f"{name} after {control} = {value!r}")
        assert not explorer.fig.stale, f"{name}: a full draw left the figure stale"
        unreadable = unreadable_axes(explorer.fig)  # and it stays readable
        assert not unreadable, f"{name} after {control} = {value!r}: {unreadable}"
    assert "blit" in calls, calls  # small moves redraw only the changing artists


def test_without_a_frontend_nothing_is_blitted_and_saving_caches_nothing(ipympl_backend):
    from gradviz.widgets.base import figure_png

    explorer = Decay()  # as under nbconvert --execute: no frontend has said "initialized"
    figure_png(explorer.fig)  # savefig draws on another renderer: not a background
    assert explorer._background is None
    explorer._background = "a cached background"  # even with one, no frontend: no blit
    explorer.line.set_ydata(np.zeros(10))
    sent = []
    explorer.fig.canvas.blit = lambda bbox=None: sent.append("blit")
    explorer.redraw()
    assert sent == [] and explorer.fig.canvas._data_url is None


def test_controls_on_a_subshell_thread_are_told_how_to_turn_subshells_off():
    """JupyterLab >= 4.4 with ipykernel >= 7 runs widget callbacks on a subshell thread, where
    matplotlib races the main thread: the explorer says so, once, and how to turn it off."""
    import threading

    from gradviz.widgets.base import OFF_MAIN_THREAD

    explorer = Decay()
    explorer.summary.value = "decay rate 0.1"
    explorer.redraw()
    assert explorer.summary.value == "decay rate 0.1"  # the main thread: no warning
    for _ in range(2):
        thread = threading.Thread(target=explorer.redraw)
        thread.start()
        thread.join()
    assert explorer.summary.value == OFF_MAIN_THREAD + "decay rate 0.1"
    assert "Kernel Comms over subshells: Disabled" in OFF_MAIN_THREAD


@pytest.mark.parametrize("limits, expected", [
    ((1.5, 4.0), ["1.6", "2.4", "3.2", "4"]),  # below a decade: plain round numbers
    ((0.02, 0.05), ["0.024", "0.032", "0.04", "0.048"]),
    ((1.2e-5, 3e-5), [r"$1.5\times10^{-5}$", r"$2\times10^{-5}$", r"$2.5\times10^{-5}$",
                      r"$3\times10^{-5}$"]),
    ((0.8, 9), [r"$\mathdefault{10^{0}}$", r"$\mathdefault{2\times10^{0}}$",
                r"$\mathdefault{5\times10^{0}}$"]),  # a decade or two: 1-2-5
    ((1e-8, 1e3), [r"$\mathdefault{10^{-6}}$", r"$\mathdefault{10^{-3}}$",
                   r"$\mathdefault{10^{0}}$", r"$\mathdefault{10^{3}}$"]),
])
def test_fit_log_ticks_labels_at_least_three_ticks_readably(limits, expected):
    import matplotlib.pyplot as plt

    from gradviz.plots.style import fit_log_ticks

    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ax.set_ylim(*limits)
    fit_log_ticks(ax)
    fig.canvas.draw()
    low, high = limits
    shown = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    plt.close(fig)
    assert shown == expected and not unreadable_axes(fig)


@pytest.mark.parametrize("data, current, expected", [
    ((-20.3, 0.0), None, (-21, 1)),  # a fresh axis: the whole decades around the data
    ((-20.3, 0.0), (-24, 1), (-24, 1)),  # 20 decades: up to 3 more to spare, kept
    ((-22.5, 0.0), (-22, 1), (-26, 1)),  # the data passed the bottom: 3 decades beyond
    ((-10.0, 0.0), (-26, 1), (-12, 1)),  # now 10 decades, far too wide: 1 decade to spare
    ((-9.5, 0.0), (-12, 1), (-12, 1)),  # up to twice that to spare while it moves back: kept
    ((-37.5, 0.0), (-42, 1), (-42, 1)),  # 5 decades back up a 40-decade axis: kept
    ((-34.5, 0.0), (-42, 1), (-38, 1)),  # 7: too wide, 3 decades to spare again
    ((-2.2, 0.0), (-4, 1), (-3, 1)),  # up to 3 decades: the whole decades, nothing more
    ((0.0, 7.4), (-1, 8), (-1, 8)),
    ((0.0, 8.2), (-1, 8), (-1, 10)),  # the top, the same way
    ((-0.9, -0.1), (-2, 0), (-2, 0)),  # data just back above 0.1 (a third of a decade): kept
    ((-0.6, -0.1), (-2, 0), (-1, 0)),  # well inside the decade again: the whole decade
    ((-0.5, 0.2), (-2, 0), (-1, 1)),  # passed the top; the bottom fitted anew too
])
def test_wide_log_axes_keep_their_limits_for_a_few_steps(data, current, expected):
    from gradviz.plots.style import log_limits

    assert log_limits(*data, current) == expected


def test_a_first_fit_is_tight_and_later_ones_keep_spare_decades():
    import matplotlib.pyplot as plt

    from gradviz.plots.style import rescale

    fig, ax = plt.subplots()
    line = ax.semilogy(np.arange(1, 31), np.logspace(-19.5, -0.8, 30))[0]
    rescale(ax)  # the whole decades around the data, not matplotlib's limits widened
    assert np.log10(ax.get_ylim()) == pytest.approx((-20, 0))
    line.set_ydata(np.logspace(-20.5, -0.8, 30))
    rescale(ax)  # passed the bottom of a 20-decade axis: 3 decades beyond
    assert np.log10(ax.get_ylim()) == pytest.approx((-24, 0))
    plt.close(fig)


@pytest.mark.parametrize("n, step, current, expected", [
    (5, 8, None, (0.5, 5.5)),  # short: up to n itself
    (30, 8, None, (0.5, 32.5)),  # else the next multiple of the step
    (33, 8, (0.5, 32.5), (0.5, 40.5)),  # passed the end
    (32, 8, (0.5, 40.5), (0.5, 40.5)),  # back across it: kept (at most a step to spare)
    (24, 8, (0.5, 40.5), (0.5, 24.5)),  # two steps to spare: fitted again
    (50, 10, (0.5, 60.5), (0.5, 60.5)),
    (70, 10, (0.5, 60.5), (0.5, 70.5)),
])
def test_position_axes_keep_their_limits_while_the_length_moves_to_and_fro(n, step, current,
                                                                          expected):
    from gradviz.plots.style import position_limits

    assert position_limits(n, step, current) == expected


def test_span_two_decades_widens_only_a_narrow_axis():
    import matplotlib.pyplot as plt

    from gradviz.plots.style import span_two_decades

    fig, ax = plt.subplots()
    line = ax.semilogy([1, 2, 3], [0.2, 0.3, 0.5])[0]
    ax.set_ylim(0.1, 1)
    span_two_decades(line)  # one decade: two around the data's
    assert ax.get_ylim() == pytest.approx((0.1, 10))
    ax.set_ylim(1e-3, 10)
    span_two_decades(line)  # four: kept as they are
    assert ax.get_ylim() == pytest.approx((1e-3, 10))
    plt.close(fig)
