"""Live explorers: controls + a figure + `update()`.

An explorer computes with the jitted core, then changes its artists' data in place and
calls `draw_idle()`: a slider move never rebuilds the figure and never recompiles.
With `%matplotlib widget` (ipympl) the figure is live; elsewhere (plain inline
backends, Colab) the same controls redraw a static image inside an Output widget.
"""

import importlib.util
import sys
import warnings

import ipywidgets as widgets
import jax
import jax.flatten_util
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import optax
from IPython.display import clear_output, display
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gradviz import attribution as _attribution
from gradviz import gradcheck as _gradcheck
from gradviz import theory
from gradviz.activations import ACTIVATION_NAMES, activation_index
from gradviz.data import adding_problem, digits
from gradviz.flow import (
    gradient_flow,
    jacobian_spectra,
    loss_value,
    phase_diagram,
    rnn_gradient_flow,
    scale_mlp,
    stacked_hidden_jacobian_norms,
)
from gradviz.init import INIT_SCHEMES, init_index, sigma_w
from gradviz.models import RNN_CELLS, apply_rnn, init_mlp, init_rnn
from gradviz.plots import (
    COLORS,
    REFERENCE_GREY,
    decade_ticks,
    draw_flow,
    draw_maps,
    few_ticks,
    finite_or_nan,
    fit_log_ticks,
    flow_summary,
    overflow_message,
    rescale,
    update_flow,
    update_maps,
)
from gradviz.train import clipped_finite_steps, divergence_step, record_clipping, train_rnn
from gradviz.validate import check_choice, check_float_range, check_int_range

MODELS = {  # name -> (residual, norm)
    "MLP": (False, "none"),
    "MLP + batch norm": (False, "batch"),
    "MLP + layer norm": (False, "layer"),
    "residual MLP": (True, "none"),
    "residual MLP + batch norm": (True, "batch"),
    "residual MLP + layer norm": (True, "layer"),
}
WIDTHS = (32, 64, 128, 256)
MAX_DEPTH = 64


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
    return backend


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
        fig.canvas.header_visible = False
        return fig
    return Figure(figsize=figsize)


class Explorer:
    """Base: holds the figure and the layout; subclasses define controls and update()."""

    def __init__(self, figsize):
        self.fig = make_figure(figsize)
        self.summary = widgets.HTML()
        self.live = isinstance(self.fig.canvas, widgets.DOMWidget)
        self.view = self.fig.canvas if self.live else widgets.Output()

    def layout(self, controls: list) -> widgets.VBox:
        rows = [widgets.HBox(controls[i : i + 3]) for i in range(0, len(controls), 3)]
        return widgets.VBox([*rows, self.view, self.summary])

    def redraw(self) -> None:
        """Redraw after the artists changed: in place (ipympl) or as a new image."""
        if self.live:
            self.fig.canvas.draw_idle()
        elif in_kernel():  # outside a kernel (tests, scripts) there is nowhere to show it
            with self.view:
                clear_output(wait=True)
                display(self.fig)

    def _ipython_display_(self):
        display(self.widget)


class FlowExplorer(Explorer):
    """Per-layer forward signal and gradient flow of an MLP at initialisation on 256
    digit images, with sliders.

    Controls: model, depth (1-64), width, activation, init scheme, init scale 0.1-15 (gain
    on the scheme's std; sigma_w is shown; up to 15, so that a Gaussian-initialised sigmoid
    net can pass its critical sigma_w of about 10), bias scale sigma_b, and a log/linear
    axis. Layers whose values are inf/NaN are drawn as a hatched band, and the summary says
    where inf/NaN appeared.
    """

    def __init__(self, depth=30, width=128, activation="sigmoid", init="xavier", scale=1.0,
                 bias_scale=0.0, model="MLP", seed=0, n_examples=256):
        check_int_range("depth", depth, 1, MAX_DEPTH)
        check_choice("width", width, WIDTHS)
        check_choice("model", model, list(MODELS))
        activation_index(activation)  # a ValueError listing the valid names
        init_index(init)
        check_float_range("init scale", scale, 0.1, 15.0)
        check_float_range("bias scale", bias_scale, 0.0, 2.0)
        super().__init__(figsize=(9, 6))
        self.data = digits(n_examples)
        self.key = jax.random.PRNGKey(seed)
        style = {"description_width": "initial"}
        self.model = widgets.Dropdown(options=list(MODELS), value=model, description="model")
        self.depth = widgets.IntSlider(depth, 1, MAX_DEPTH, description="depth", style=style)
        self.width = widgets.Dropdown(options=WIDTHS, value=width, description="width")
        self.activation = widgets.Dropdown(options=ACTIVATION_NAMES, value=activation,
                                           description="activation")
        self.init = widgets.Dropdown(options=INIT_SCHEMES, value=init, description="init")
        self.scale = widgets.FloatSlider(scale, min=0.1, max=15.0, step=0.05,
                                         description="init scale", style=style)
        self.bias_scale = widgets.FloatSlider(bias_scale, min=0.0, max=2.0, step=0.05,
                                              description="bias scale σ_b", style=style)
        self.yscale = widgets.ToggleButtons(options=["log", "linear"], value="log",
                                            description="gradient axis", style=style)
        self.controls = [self.model, self.depth, self.width, self.activation, self.init,
                         self.scale, self.bias_scale, self.yscale]
        axes = self.fig.subplots(2, 2, sharex=True).ravel()
        self._new_params()
        self.stats = self._flow()
        self.artists = draw_flow(axes, self.stats, self._theory())
        self.fig.suptitle(f"At initialisation: one forward and backward pass on "
                          f"{n_examples} digit images", fontsize=10)
        self.fig.tight_layout()
        margins = self.fig.subplotpars  # room for wider tick labels (3x10^-1) later on
        self.fig.subplots_adjust(left=margins.left + 0.03, wspace=margins.wspace + 0.1)
        self.widget = self.layout(self.controls)
        for control in (self.width, self.init, self.scale, self.bias_scale):
            control.observe(self._on_params_change, names="value")
        for control in (self.model, self.depth, self.activation, self.yscale):
            control.observe(self.update, names="value")
        self.update()

    def _new_params(self) -> None:
        self.params = init_mlp(self.key, self.data.x.shape[1], self.width.value, MAX_DEPTH, 10,
                               init=self.init.value, scale=self.scale.value,
                               bias_scale=self.bias_scale.value)

    def _on_params_change(self, change=None) -> None:
        self._new_params()
        self.update()

    def _flow(self):
        residual, norm = MODELS[self.model.value]
        return gradient_flow(self.params, self.data.x, self.data.y, self.activation.value,
                             residual, norm, depth=self.depth.value)

    @property
    def sigma_w(self) -> float:
        """The effective sigma_w of the hidden layers (fan_in * Var(W_ij) = sigma_w^2)."""
        width = self.width.value
        return sigma_w(self.init.value, self.scale.value, width, width)

    def _theory(self):
        """Mean-field prediction of ||dL/dh_l||, anchored at the last layer; None where
        the theory does not apply (residual or normalised networks, overflow)."""
        if self.model.value != "MLP" or self.stats.first_nonfinite_backward is not None:
            return None
        profile = theory.predicted_signal_profile(
            self.depth.value, self.sigma_w, self.bias_scale.value, self.activation.value,
            input_mean_square=float(np.mean(np.square(self.data.x))),
        )
        return np.asarray(profile) * self.stats.signal_norm[-1]

    def update(self, change=None) -> None:
        """Recompute the flow for the controls' values and redraw the artists in place."""
        self.stats = self._flow()
        predicted_signal = self._theory()
        update_flow(self.artists, self.stats, predicted_signal)
        if self.artists.signal.axes.get_yscale() != self.yscale.value:
            with warnings.catch_warnings():  # all-inf/NaN data: nothing to show on a log axis
                warnings.simplefilter("ignore", UserWarning)
                self.artists.signal.axes.set_yscale(self.yscale.value)
            few_ticks(self.artists.signal.axes)
            fit_log_ticks(self.artists.signal.axes)
        gain = ""
        if self.model.value == "MLP":
            predicted = theory.signal_gain_per_layer(self.sigma_w, self.bias_scale.value,
                                                     self.activation.value)
            gain = f" Mean-field theory: {float(predicted):.2f}x per layer."
            depth = self.depth.value
            ends = (np.array([0.0, 0.0]) if predicted_signal is None
                    else np.asarray(predicted_signal, np.float64)[[0, -1]])
            if depth > 1 and np.all(np.isfinite(ends) & (ends > 0)):  # far from q* still?
                mean_gain = (ends[0] / ends[1]) ** (1 / (depth - 1))
                if f"{mean_gain:.2f}" != f"{float(predicted):.2f}":
                    gain = (f" Mean-field theory: {float(predicted):.2f}x per layer at the "
                            f"fixed point q*, which q_l approaches slowly here: "
                            f"{mean_gain:.2f}x per layer over these {depth} layers.")
        self.summary.value = (f"{flow_summary(self.stats)}{gain} "
                              f"(sigma_w = {self.sigma_w:.2f}, sigma_b = "
                              f"{self.bias_scale.value:.2f})")
        self.redraw()


class RNNExplorer(Explorer):
    """The gradient through time of a vanilla RNN or GRU on adding-problem sequences.

    Left: ||dL/dh_t|| for every step t (the loss is at the last step). Right: how much
    h_T depends on h_t, ||dh_T/dh_t||, against the lag T - t, for a range of recurrent
    scales (rows); the dashed line marks the current scale.
    """

    SCALES = np.round(np.linspace(0.2, 2.0, 19), 2)

    def __init__(self, cell="vanilla", recurrent_scale=0.9, length=50, update_gate_bias=0.0,
                 hidden=32, max_length=100, seed=0):
        check_choice("cell", cell, RNN_CELLS)
        check_float_range("recurrent scale", recurrent_scale, self.SCALES[0], self.SCALES[-1])
        check_int_range("max_length", max_length, 2, 1000)
        check_int_range("length", length, 2, max_length)
        check_float_range("update-gate bias", update_gate_bias, -2.0, 6.0)
        super().__init__(figsize=(9, 3.6))
        key = jax.random.PRNGKey(seed)
        self.xs, self.y = adding_problem(key, 16, max_length)
        self.key, self.hidden = key, hidden
        style = {"description_width": "initial"}
        self.cell = widgets.ToggleButtons(options=RNN_CELLS, value=cell, description="cell")
        self.recurrent_scale = widgets.FloatSlider(
            recurrent_scale, min=float(self.SCALES[0]), max=float(self.SCALES[-1]), step=0.05,
            description="recurrent scale", style=style)
        self.length = widgets.IntSlider(length, 2, max_length, description="sequence length",
                                        style=style)
        self.update_gate_bias = widgets.FloatSlider(
            update_gate_bias, min=-2.0, max=6.0, step=0.25, description="GRU update-gate bias",
            style=style)
        self.controls = [self.cell, self.recurrent_scale, self.length, self.update_gate_bias]
        ax_time, ax_map = self.fig.subplots(1, 2)
        self.signal_line = ax_time.plot([], [], "o-", ms=2, color=COLORS["blue"])[0]
        ax_time.set(yscale="log", xlabel="time step t", ylabel="||dL/dh_t||",
                    title="Gradient through time")
        few_ticks(ax_time)
        self.overflow = ax_time.text(0.02, 0.04, "", transform=ax_time.transAxes,
                                     color=COLORS["vermillion"], fontweight="bold", fontsize=9)
        # diverging, centred on 1 (log10 = 0): blue decays with the lag, red grows
        self.image = ax_map.imshow(np.zeros((len(self.SCALES), max_length)), aspect="auto",
                                   origin="lower", cmap="RdBu_r", vmin=-8, vmax=8,
                                   extent=(-0.5, max_length - 0.5, 0, len(self.SCALES)))
        ax_map.set(xlabel="lag T - t", ylabel="recurrent scale",
                   title=f"log10 ||dh_T/dh_t|| per unit, T = {max_length}")
        ax_map.set_yticks(np.arange(len(self.SCALES))[::3] + 0.5, self.SCALES[::3])
        self.scale_line = ax_map.axhline(0, color="black", ls="--", lw=1)
        self.fig.colorbar(self.image, ax=ax_map, extend="both")
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in (self.cell, self.update_gate_bias):
            control.observe(self._on_cell_change, names="value")
        for control in (self.recurrent_scale, self.length):
            control.observe(self.update, names="value")
        self._on_cell_change()

    def _params(self, scale):
        return init_rnn(self.key, 2, self.hidden, 1, cell=self.cell.value,
                        recurrent_scale=scale, update_gate_bias=self.update_gate_bias.value)

    def _on_cell_change(self, change=None) -> None:
        """New cell or gate bias: recompute the lag map for every scale (one vmapped call)."""
        self.update_gate_bias.disabled = self.cell.value != "gru"
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *[self._params(float(s))
                                                          for s in self.SCALES])
        norms = stacked_hidden_jacobian_norms(stacked, self.xs[:4], "tanh")
        self.lag_map = norms[:, ::-1]  # (scales, lag)
        self.image.set_data(np.log10(np.maximum(self.lag_map, 1e-30)))
        self.update()

    def update(self, change=None) -> None:
        """Recompute the gradient through time; redraw in place."""
        length = self.length.value
        self.stats = rnn_gradient_flow(self._params(self.recurrent_scale.value), self.xs,
                                       self.y, length=length)
        steps = np.arange(1, length + 1)
        self.signal_line.set_data(steps, finite_or_nan(self.stats.signal_norm))
        rescale(self.signal_line.axes)
        _span_two_decades(self.signal_line)
        self.overflow.set_text(overflow_message(self.stats).replace("layer", "step"))
        row = np.interp(self.recurrent_scale.value, self.SCALES, np.arange(len(self.SCALES)))
        self.scale_line.set_ydata([row + 0.5, row + 0.5])
        self.summary.value = rnn_summary(self.stats, self.cell.value,
                                         self.recurrent_scale.value)
        self.redraw()


def _span_two_decades(line) -> None:
    """Fit a log y-axis to a line's finite positive data, in whole decades and at least
    two of them, so that it shows at least three labelled powers of 10 however flat the
    data are. (Without such data the limits are left as they are.)"""
    data = np.asarray(line.get_ydata(), dtype=float)
    data = data[np.isfinite(data) & (data > 0)]
    if data.size == 0:
        return
    bottom, top = np.floor(np.log10(data.min())), np.ceil(np.log10(data.max()))
    if top - bottom < 2:
        middle = np.round((bottom + top) / 2)
        bottom, top = min(bottom, middle - 1), max(top, middle + 1)
    line.axes.set_ylim(10.0**bottom, 10.0**top)


def rnn_summary(stats, cell: str, scale: float) -> str:
    """One line saying what the gradient-through-time plot shows."""
    signal = np.asarray(stats.signal_norm, dtype=np.float64)
    if not np.all(np.isfinite(signal)):
        return f"{cell} RNN, recurrent scale {scale:.2f}: overflow ({overflow_message(stats)})."
    if len(signal) < 2 or signal[-1] == 0:
        return f"{cell} RNN, recurrent scale {scale:.2f}."
    total = signal[0] / signal[-1]
    factor = total ** (1 / (len(signal) - 1))
    verb = "shrinks" if factor < 1 else "grows"
    return (f"{cell} RNN, recurrent scale {scale:.2f}: going back one step the gradient "
            f"{verb} {factor:.2f}x; step 1 gets {total:.1e} of step {len(signal)}'s gradient.")


CLIP_METHODS = {"value": optax.clip, "global norm": optax.clip_by_global_norm}


class ClipExplorer(Explorer):
    """Gradient clipping on a recurrent net whose gradients explode.

    A vanilla RNN (linear units, recurrent scale above 1) learns the adding problem with
    plain SGD, with no clipping, clipping by value (optax.clip) and clipping by global
    norm (optax.clip_by_global_norm). Every threshold of the slider is trained when the
    explorer starts (one vmapped run per method), so moving the slider only redraws.
    Top left: training loss per method (the legend says where a run diverged). Top
    right: the fraction of steps clipped against the threshold; for a run that diverged
    (marked x), of the steps up to its divergence. Bottom: the first gradient after
    clipping, against the threshold: its norm (by norm it is capped at the threshold, by
    value only at threshold x sqrt(number of parameters)) and its angle to the unclipped
    gradient.
    """

    THRESHOLDS = np.logspace(-2, 2, 17)

    def __init__(self, threshold=1.0, activation="linear", recurrent_scale=1.1, lr=0.01,
                 steps=200, length=30, hidden=16, seed=0):
        check_float_range("clip threshold", threshold, self.THRESHOLDS[0], self.THRESHOLDS[-1])
        check_int_range("steps", steps, 1, 10_000)
        super().__init__(figsize=(9, 5.6))
        self.lr, self.steps = lr, steps
        key = jax.random.PRNGKey(seed)
        xs, y = adding_problem(key, 512, length)
        params = init_rnn(key, 2, hidden, 1, recurrent_scale=recurrent_scale)
        self.logs = {"none": train_rnn(key, params, xs, y, optax.sgd(lr), steps, batch_size=64,
                                       activation=activation)}
        for name, clip in CLIP_METHODS.items():
            def run(c, clip=clip):
                optimizer = optax.chain(record_clipping(clip(c)), optax.sgd(lr))
                return train_rnn(key, params, xs, y, optimizer, steps, batch_size=64,
                                 activation=activation)

            self.logs[name] = jax.vmap(run)(jnp.asarray(self.THRESHOLDS, jnp.float32))
        # per method, (thresholds,): clipped steps among the finite ones, and where it diverged
        self.clipped, self.finite = {}, {}
        for name in CLIP_METHODS:
            self.clipped[name], self.finite[name] = clipped_finite_steps(self.logs[name])
        self.diverged = {name: divergence_step(self.logs[name].loss) for name in CLIP_METHODS}
        # per method, (thresholds,): how many of the steps up to the divergence were clipped
        # (after it, a diverging run is chaotic: its later steps differ from CPU to CPU)
        self.clipped_before = {}
        for name in CLIP_METHODS:
            flags, step = np.asarray(self.logs[name].clipped), self.diverged[name]
            upto = np.arange(flags.shape[1]) <= step[:, None]
            self.clipped_before[name] = np.sum(flags & upto, axis=1)
        self.gradient = jax.grad(
            lambda p: loss_value(apply_rnn(p, xs[:64], activation), y[:64], "mse"))(params)
        raw = self.clipped_step("none", 1.0)
        self.n_params = raw.size
        # the first gradient after clipping, at every threshold: its norm and its angle
        self.first_norm, self.first_angle = {}, {}
        for name in CLIP_METHODS:
            clipped = np.stack([self.clipped_step(name, c) for c in self.THRESHOLDS])
            norms = np.linalg.norm(clipped.astype(np.float64), axis=1)
            cosine = clipped.astype(np.float64) @ raw / (norms * np.linalg.norm(raw))
            self.first_norm[name] = norms
            self.first_angle[name] = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))

        options = [(f"{c:.3g}", i) for i, c in enumerate(self.THRESHOLDS)]
        start = int(np.argmin(np.abs(np.log(self.THRESHOLDS / threshold))))
        self.threshold = widgets.SelectionSlider(options=options, value=start,
                                                 description="clip threshold",
                                                 style={"description_width": "initial"})
        (ax_loss, ax_frac), (ax_norm, ax_angle) = self.fig.subplots(2, 2)
        colors = {"none": COLORS["vermillion"], "value": COLORS["orange"],
                  "global norm": COLORS["blue"]}
        styles = {"none": ":", "value": "--", "global norm": "-"}  # colour and style both
        markers = {"value": "s", "global norm": "o"}
        self.loss_lines = {name: ax_loss.plot([], [], styles[name], color=colors[name],
                                              label=name)[0] for name in self.logs}
        ax_loss.set(yscale="log", xlabel="step", ylabel="training loss",
                    title=f"Training (SGD, learning rate {lr:g})")
        self.loss_legend = ax_loss.legend(fontsize=7, title="clipping", title_fontsize=7,
                                          loc="upper right")
        healthy, self.diverged_markers = {}, {}
        for name in CLIP_METHODS:
            bad = self.diverged[name] >= 0
            up_to = np.maximum(self.diverged[name] + 1, 1)  # steps up to the divergence
            fraction = np.where(bad, self.clipped_before[name] / up_to,
                                self.clipped[name] / np.maximum(self.finite[name], 1))
            healthy[name] = np.where(bad, np.nan, fraction)
            ax_frac.semilogx(self.THRESHOLDS, healthy[name], markers[name] + styles[name],
                             ms=3, color=colors[name], label=name)
            self.diverged_markers[name] = ax_frac.semilogx(
                self.THRESHOLDS, np.where(bad, fraction, np.nan), "x", ms=8, mew=2,
                color=colors[name], label="_nolegend_")[0]
        self.frac_marker = ax_frac.axvline(threshold, color="black", lw=1, ls="--")
        ax_frac.set(xlabel="threshold", ylabel="fraction of steps clipped",
                    ylim=(-0.03, 1.03), title="How often it clips (x: the run diverged)")
        ax_frac.plot([], [], "x", ms=8, mew=2, color="black", label="the run diverged")
        ax_frac.legend(fontsize=7, loc="center left")
        bound = self.THRESHOLDS * np.sqrt(self.n_params)
        ax_norm.loglog(self.THRESHOLDS, np.full_like(self.THRESHOLDS, np.linalg.norm(raw)),
                       styles["none"], color=colors["none"], label="none")
        for name in CLIP_METHODS:
            ax_norm.loglog(self.THRESHOLDS, self.first_norm[name], markers[name] + styles[name],
                           ms=3, color=colors[name], label=name)
        ax_norm.loglog(self.THRESHOLDS, bound, ":", color=REFERENCE_GREY,
                       label=f"threshold × √{self.n_params} (value's cap)")
        ax_norm.set(xlabel="threshold", ylabel="norm after clipping",
                    title="First gradient: its norm")
        ax_norm.legend(fontsize=7, loc="lower right")
        for name in CLIP_METHODS:
            ax_angle.semilogx(self.THRESHOLDS, self.first_angle[name],
                              markers[name] + styles[name], ms=3, color=colors[name],
                              label=name)
        ax_angle.set(xlabel="threshold", ylabel="angle to the gradient (°)", ylim=(-3, 93),
                     yticks=[0, 30, 60, 90], title="First gradient: its direction")
        ax_angle.legend(fontsize=7, loc="upper right")
        self.markers = [ax.axvline(threshold, color="black", lw=1, ls="--")
                        for ax in (ax_norm, ax_angle)] + [self.frac_marker]
        for ax in (ax_loss, ax_frac, ax_norm):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout([self.threshold])
        self.threshold.observe(self.update, names="value")
        self.update()

    def clipped_step(self, method: str, threshold: float) -> np.ndarray:
        """The first gradient, flattened, clipped by `method` ("none": as it is). The
        first update is -lr times it."""
        flat, _ = jax.flatten_util.ravel_pytree(self.gradient)
        if method == "none":
            return np.asarray(flat)
        clipped, _ = CLIP_METHODS[method](threshold).update(self.gradient, ())
        return np.asarray(jax.flatten_util.ravel_pytree(clipped)[0])

    def outcome(self, name: str, index: int) -> str:
        """How the run of `name` at threshold `index` went, in words."""
        log = self.logs[name]
        loss = np.asarray(log.loss if name == "none" else log.loss[index])
        nonfinite = np.asarray(log.nonfinite if name == "none" else log.nonfinite[index])
        diverged = divergence_step(loss)
        if diverged is None:
            text = f"loss {loss[-1]:.2g} after {len(loss)} steps"
        else:
            text = f"diverged at step {diverged}"
            if np.any(nonfinite):
                text += f" (inf/NaN first at step {int(np.argmax(nonfinite))})"
        if name != "none" and diverged is None:
            clipped, finite = int(self.clipped[name][index]), int(self.finite[name][index])
            text += (f", clipped {clipped} of {finite} steps" if finite == len(loss) else
                     f", clipped {clipped} of its {finite} finite steps")
        elif name != "none":
            text += (f", clipped {int(self.clipped_before[name][index])} of the "
                     f"{diverged + 1} steps up to it")
        return text

    def update(self, change=None) -> None:
        """Show the runs and the first gradient for the chosen threshold."""
        index = self.threshold.value
        threshold = float(self.THRESHOLDS[index])
        lines = []
        for (name, log), label in zip(self.logs.items(), self.loss_legend.get_texts(),
                                          strict=True):
            loss = np.asarray(log.loss if name == "none" else log.loss[index])
            self.loss_lines[name].set_data(np.arange(len(loss)), finite_or_nan(loss))
            diverged = divergence_step(loss)
            label.set_text(name if diverged is None else f"{name}: diverged at step {diverged}")
            lines.append(f"{'no clipping' if name == 'none' else 'by ' + name}: "
                         f"{self.outcome(name, index)}")
        ax_loss = self.loss_lines["none"].axes
        shown = np.concatenate([line.get_ydata() for line in self.loss_lines.values()])
        shown = np.log10(shown[np.isfinite(shown) & (shown > 0)])
        low, high = np.floor(shown.min()), np.ceil(shown.max())
        ax_loss.set_ylim(10.0**low, 10.0 ** (high + 0.4 * (high - low)))  # room for the legend
        ax_loss.set_xlim(-0.02 * self.steps, 1.02 * self.steps)
        for marker in self.markers:
            marker.set_xdata([threshold, threshold])
        norm = {name: self.first_norm[name][index] for name in CLIP_METHODS}
        angle = {name: self.first_angle[name][index] for name in CLIP_METHODS}
        raw = float(np.linalg.norm(self.clipped_step("none", threshold)))
        self.summary.value = (
            f"Threshold {threshold:.3g}: " + "; ".join(lines) + ". First gradient (the "
            f"step is {self.lr:g} times it): norm {raw:.3g} unclipped, {norm['global norm']:.3g} "
            f"by global norm ({angle['global norm']:.0f}° from the gradient: same direction), "
            f"{norm['value']:.3g} by value ({angle['value']:.0f}° from the gradient).")
        self.redraw()


# --------------------------------------------------------------------------- attributions


MAP_TITLES = ("input", "saliency |df/dx|", "input × gradient", "integrated gradients",
              "SmoothGrad")
MAP_KINDS = ("input", "magnitude", "signed", "signed", "signed")


class AttributionExplorer(Explorer):
    """A digit and four gradient attributions of the logit of the class a model predicts.

    models: {name: (params, activation)} plain MLPs from gradviz.init_mlp; x: (n, 64)
    digit images, y: (n,) labels; baselines: {name: (64,) image shared by every example,
    or (n, 64) one per example} for integrated gradients. ink: optional function from a
    (64,) image to raw ink (0..16), to show the input panel as the digit on paper.
    Controls: model, example, baseline. The maps of all n examples are computed at once
    for each (model, baseline) pair, in float64 so that completeness can be checked
    even where f(x) - f(x') is tiny (one jitted call, compiled once per model shape and
    activation when the explorer is made); moving a control never compiles. Each map is
    drawn on its own scale (its colour bar).
    """

    def __init__(self, models: dict, x, y, baselines: dict, model=None, index=0,
                 baseline=None, n_steps=32, seed=0, ink=None):
        if not models or not baselines:
            raise ValueError("give at least one model and one baseline")
        model = next(iter(models)) if model is None else model
        baseline = next(iter(baselines)) if baseline is None else baseline
        check_choice("model", model, list(models))
        check_choice("baseline", baseline, list(baselines))
        check_int_range("example", index, 0, len(x) - 1)
        for name, image in baselines.items():
            if np.shape(image) not in (np.shape(x)[1:], np.shape(x)):
                raise ValueError(f"baseline {name!r} must have shape {np.shape(x)[1:]} or "
                                 f"{np.shape(x)}, got {np.shape(image)}")
        super().__init__(figsize=(11, 2.4))
        self.models, self.x, self.y, self.baselines = models, x, y, baselines
        self.n_steps, self.key, self.ink = n_steps, jax.random.PRNGKey(seed), ink
        self.kinds = (("ink",) if ink is not None else ("input",)) + MAP_KINDS[1:]
        self._cache = {}
        style = {"description_width": "initial"}
        self.model = widgets.Dropdown(options=list(models), value=model, description="model")
        self.example = widgets.IntSlider(index, 0, len(x) - 1, description="example",
                                         style=style)
        self.baseline = widgets.Dropdown(options=list(baselines), value=baseline,
                                         description="IG baseline", style=style)
        self.controls = [self.model, self.example, self.baseline]
        for name in models:  # compile each model now, not on a control change
            self.compute(name, baseline)
        axes = self.fig.subplots(1, 5)
        titles = (("input (ink)",) if ink is not None else MAP_TITLES[:1]) + MAP_TITLES[1:]
        self.images = draw_maps(axes, self.panels(), titles, self.kinds, colorbar=True)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    def compute(self, model: str, baseline: str) -> _attribution.AttributionMaps:
        """The attributions of every example for the class `model` predicts (cached)."""
        if (model, baseline) not in self._cache:
            params, activation = self.models[model]
            target = jnp.argmax(_attribution.class_logits(params, self.x, activation), axis=-1)
            self._cache[model, baseline] = _attribution.attribution_maps_float64(
                params, self.x, target, self.key, activation, self.baselines[baseline],
                self.n_steps)
        return self._cache[model, baseline]

    @property
    def maps(self) -> _attribution.AttributionMaps:
        """The maps of the current example (each with a batch axis of 1)."""
        i = self.example.value
        every = self.compute(self.model.value, self.baseline.value)
        return jax.tree.map(lambda a: a[i : i + 1], every)

    def panels(self, m=None) -> list:
        """The five images shown: the input (as ink if `ink` was given) and the four maps
        m (default: self.maps) of the current example."""
        m = self.maps if m is None else m
        image = self.x[self.example.value]
        image = image if self.ink is None else self.ink(image)
        return [image, m.saliency[0], m.input_x_gradient[0], m.integrated_gradients[0],
                m.smoothgrad[0]]

    def update(self, change=None) -> None:
        """Show the maps for the controls' values; redraw the images in place."""
        maps = self.maps
        update_maps(self.images, self.panels(maps), self.kinds)
        self.summary.value = attribution_summary(
            maps, self.y[self.example.value], self.baseline.value)
        self.redraw()


COMPLETENESS_RESOLUTION = 1e-7  # relative to f(x) - f(x'): what 32 float64 GL steps reach
ZERO_DIFFERENCE = 1e-12  # relative to |f|: a smaller f(x) - f(x') is float64 rounding


def attribution_summary(maps, label, baseline: str) -> str:
    """One line: what the model predicts, whether integrated gradients add up to
    f(x) - f(x') (relative to that difference), and how the maps agree with IG.

    maps: float64 `AttributionMaps` of one example (batch axis of 1).
    """
    ig = np.abs(np.asarray(maps.integrated_gradients[0]))
    agree = []
    for name in ("saliency", "input_x_gradient", "smoothgrad"):
        r = float(_attribution.rank_correlation(np.abs(getattr(maps, name)[0]), ig))
        agree.append(f"{name} {r:.2f}")
    logit, delta = float(maps.logit[0]), float(maps.completeness_delta[0])
    difference = float(np.sum(maps.integrated_gradients[0])) - delta  # f(x) - f(x')
    scale = max(abs(logit), abs(logit - difference))
    if abs(difference) <= ZERO_DIFFERENCE * scale:
        complete = (f"IG from the {baseline} baseline: f(x) - f(x') is 0 to float64 "
                    "rounding, so there is nothing to attribute")
    elif abs(delta) < COMPLETENESS_RESOLUTION * abs(difference):
        complete = (f"IG from the {baseline} baseline adds up to f(x) - f(x') = "
                    f"{difference:.3g} (error below {COMPLETENESS_RESOLUTION:.0e} of it, "
                    "float64)")
    else:
        complete = (f"IG from the {baseline} baseline misses f(x) - f(x') = "
                    f"{difference:.3g} by {abs(delta / difference):.0e} of it")
    return (f"Label {int(label)}; explained: the logit {logit:.3g} of the predicted class. "
            f"{complete}. Rank correlation of |map| with |IG|: "
            + ", ".join(agree).replace("_", " ") + ".")


RULE_STYLES = {"gauss-legendre": "-", "left": "--", "middle": "-.", "right": ":",
               "trapezoid": (0, (6, 2, 1, 2, 1, 2))}
RULE_MARKERS = {"gauss-legendre": "o", "left": "<", "middle": "s", "right": ">",
                "trapezoid": "^"}


STEPS_ROUNDING = 1e-12  # relative to f(x) - f(x'): below it, float64 rounding decides


class CompletenessExplorer(Explorer):
    """How fast each quadrature rule's integrated gradients reach completeness.

    Left: |sum(IG) - (f(x) - f(baseline))| against the number of steps, for every rule
    (computed in float64 for 1..max_steps steps when the explorer is made, by
    `attribution.logit_convergence`). Right: the IG map of each rule at the chosen
    number of steps, all on one colour scale. The slider only selects.
    """

    def __init__(self, params, x, target, baseline=None, activation="tanh", n_steps=4,
                 max_steps=64):
        check_int_range("max_steps", max_steps, 2, 256)
        check_int_range("n_steps", n_steps, 1, max_steps)
        super().__init__(figsize=(10, 4.2))
        self.table, self.difference = _attribution.logit_convergence(
            params, x, target, activation, baseline, max_steps)
        self.errors = np.abs(np.asarray(self.table.delta))
        self.steps = widgets.IntSlider(n_steps, 1, max_steps, description="steps",
                                       style={"description_width": "initial"})
        grid = self.fig.add_gridspec(2, 6)
        ax_err = self.fig.add_subplot(grid[:, :3])
        palette = [COLORS[c] for c in ("blue", "orange", "green", "vermillion", "purple")]
        for method, errors, color in zip(self.table.methods, self.errors, palette,
                                         strict=False):
            ax_err.loglog(self.table.n_steps, np.maximum(errors, 1e-17), color=color,
                          ls=RULE_STYLES.get(method, "-"), marker=RULE_MARKERS.get(method),
                          markevery=[n - 1 for n in (1, 2, 4, 8, 16, 32, 64, 128, 256)
                                     if n <= max_steps], ms=4, label=method)
        ax_err.set(xlabel="steps (gradient evaluations)", ylabel="|completeness error|",
                   title="Integrated gradients: completeness (float64)")
        ax_err.legend(fontsize=7)
        few_ticks(ax_err)
        powers = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= max_steps]
        ax_err.set_xticks(powers, [str(n) for n in powers])
        ax_err.xaxis.set_minor_locator(plt.NullLocator())
        self.marker = ax_err.axvline(n_steps, color="black", lw=1, ls="--")
        positions = [grid[0, 3], grid[0, 4], grid[0, 5], grid[1, 3], grid[1, 4]]
        map_axes = [self.fig.add_subplot(p) for p in positions]
        self.images = draw_maps(map_axes, self.panels(n_steps), self.table.methods,
                                ["signed"] * len(self.table.methods))
        bar_ax = self.fig.add_subplot(grid[1, 5])
        bar_ax.set_visible(False)
        self.colorbar = self.fig.colorbar(self.images[0], ax=bar_ax, fraction=0.5)
        self.colorbar.ax.tick_params(labelsize=7)
        self.colorbar.set_label("IG, one scale for all five", fontsize=7)
        self.fig.tight_layout()
        self.widget = self.layout([self.steps])
        self.steps.observe(self.update, names="value")
        self.update()

    def panels(self, n: int) -> list:
        return list(np.asarray(self.table.attributions[:, n - 1]))

    def update(self, change=None) -> None:
        """Show the maps and errors at the chosen number of steps."""
        n = self.steps.value
        panels = self.panels(n)
        update_maps(self.images, panels, ["signed"] * len(self.images))
        finite = [np.abs(p[np.isfinite(p)]) for p in panels]
        top = max((float(v.max()) for v in finite if v.size), default=1.0) or 1.0
        for image in self.images:  # one scale, so the rules' maps can be compared
            image.set_clim(-top, top)
        self.marker.set_xdata([n, n])
        floor = STEPS_ROUNDING * max(1.0, abs(self.difference))  # float64 rounding decides
        errors = ", ".join(f"{m} {e:.1e}" if not e < floor else f"{m} <{floor:.0e}"
                           for m, e in zip(self.table.methods, self.errors[:, n - 1],
                                           strict=True))
        self.summary.value = (f"{n} steps; f(x) - f(baseline) = {self.difference:.3f}; "
                              f"|completeness error|: {errors}.").replace("nan", "undefined")
        self.redraw()


# --------------------------------------------------------------------------- chapter 3



class PhaseDiagramExplorer(Explorer):
    """The edge of chaos, measured: a heat map of the log gain per layer of the
    backpropagated signal over a (sigma_w, sigma_b) grid of MLPs at initialisation,
    mean-field theory's critical line on top, and the chosen point's gradient flow.

    The grid is computed once per activation, the first time it is shown (one vmapped
    pass, gradviz.flow.phase_diagram; `diagram(name)`); moving the sliders (or clicking
    the map, with ipympl) moves the marker and recomputes one gradient flow: nothing
    recompiles.
    """

    ACTIVATIONS = ("tanh", "relu")
    NOT_FINITE = "0.45"  # the map's grey for cells without a finite gain

    def __init__(self, activation="tanh", sigma_w=1.0, sigma_b=0.0, depth=30, width=64,
                 n_w=24, n_b=16, n_examples=64, seed=0):
        check_choice("activation", activation, self.ACTIVATIONS)
        check_float_range("sigma_w", sigma_w, 0.25, 4.0)
        check_float_range("sigma_b", sigma_b, 0.0, 1.5)
        check_int_range("depth", depth, 2, MAX_DEPTH)
        check_int_range("n_w", n_w, 2, 200)
        check_int_range("n_b", n_b, 2, 200)
        super().__init__(figsize=(10, 3.8))
        self.data = digits(n_examples)
        self.unit = init_mlp(jax.random.PRNGKey(seed), self.data.x.shape[1], width, depth, 10,
                             init="gaussian", scale=1.0, bias_scale=1.0)
        sigma_ws, sigma_bs = np.linspace(0.25, 4.0, n_w), np.linspace(0.0, 1.5, n_b)
        self.grid = (sigma_ws, sigma_bs)
        self.diagrams = {}  # activation -> PhaseDiagram, filled by diagram()
        self.input_mean_square = float(np.mean(np.square(self.data.x)))
        style = {"description_width": "initial"}
        self.activation = widgets.ToggleButtons(options=self.ACTIVATIONS, value=activation,
                                                description="activation")
        self.sigma_w = widgets.FloatSlider(sigma_w, min=0.25, max=4.0, step=0.05,
                                           description="σ_w", style=style)
        self.sigma_b = widgets.FloatSlider(sigma_b, min=0.0, max=1.5, step=0.05,
                                           description="σ_b", style=style)
        self.controls = [self.activation, self.sigma_w, self.sigma_b]
        ax_map, ax_flow = self.fig.subplots(1, 2)
        step_w, step_b = sigma_ws[1] - sigma_ws[0], sigma_bs[1] - sigma_bs[0]
        extent = (sigma_ws[0] - step_w / 2, sigma_ws[-1] + step_w / 2,
                  sigma_bs[0] - step_b / 2, sigma_bs[-1] + step_b / 2)
        # white is ln gain 0 (the edge): cells without a finite gain (the signal
        # underflowed to 0, or overflowed) get a grey of their own, named in the legend
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=self.NOT_FINITE)
        self.image = ax_map.imshow(np.zeros((n_b, n_w)), origin="lower", aspect="auto",
                                   extent=extent, cmap=cmap, vmin=-1.0, vmax=1.0)
        self.fig.colorbar(self.image, ax=ax_map,
                          label="ln(gain per layer); 0: factor 1")
        self.critical_line = ax_map.plot([], [], "k--", lw=1.5, label="theory: χ = 1")[0]
        self.marker = ax_map.plot([], [], "o", ms=9, mfc="none", mec="black", mew=2)[0]
        ax_map.set(xlabel="σ_w", ylabel="σ_b", xlim=extent[:2], ylim=extent[2:],
                   title=f"Signal growth going back, depth {depth}")
        not_finite = Patch(facecolor=self.NOT_FINITE, edgecolor="black", lw=0.5,
                           label="no finite gain (signal underflowed to 0)")
        ax_map.legend(handles=[self.critical_line, not_finite], fontsize=7, loc="upper left")
        self.signal_line = ax_flow.semilogy([], [], "o-", ms=3, color=COLORS["blue"],
                                            label="measured ||dL/dh_l||")[0]
        self.theory_line = ax_flow.semilogy([], [], "--", color=COLORS["black"], lw=1,
                                            label="mean-field prediction")[0]
        ax_flow.set(xlabel="layer l", ylabel="gradient norm", title="The chosen network")
        ax_flow.legend(fontsize=7, loc="upper left")
        for ax in (ax_map, ax_flow):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        self.activation.observe(self._on_activation, names="value")
        for control in (self.sigma_w, self.sigma_b):
            control.observe(self.update, names="value")
        self.fig.canvas.mpl_connect("button_press_event", self._on_click)
        self._on_activation()

    def diagram(self, activation: str):
        """The PhaseDiagram of `activation` on the explorer's grid, computed once."""
        if activation not in self.diagrams:
            self.diagrams[activation] = phase_diagram(self.unit, self.data.x, self.data.y,
                                                      *self.grid, activation)
        return self.diagrams[activation]

    def _on_activation(self, change=None) -> None:
        diagram = self.diagram(self.activation.value)
        self.image.set_data(finite_or_nan(diagram.log_gain))
        # the theory's line on a finer sigma_b grid than the map's rows: a smooth curve
        sigma_bs = np.linspace(diagram.sigma_b[0], diagram.sigma_b[-1], 61)
        critical = theory.critical_sigma_w(sigma_bs, diagram.activation)
        self.critical_line.set_data(np.asarray(critical), sigma_bs)
        self.update()

    def _on_click(self, event) -> None:
        """A click on the map (ipympl) moves the sliders there."""
        if event.inaxes is self.image.axes and event.xdata is not None:
            self.sigma_b.value = float(np.clip(event.ydata, 0.0, 1.5))
            self.sigma_w.value = float(np.clip(event.xdata, 0.25, 4.0))

    def flow(self):
        """The FlowStats of the chosen (activation, sigma_w, sigma_b)."""
        params = scale_mlp(self.unit, self.sigma_w.value, self.sigma_b.value)
        return gradient_flow(params, self.data.x, self.data.y, self.activation.value)

    def update(self, change=None) -> None:
        """Move the marker and redraw the chosen point's flow in place."""
        sw, sb, name = self.sigma_w.value, self.sigma_b.value, self.activation.value
        self.marker.set_data([sw], [sb])
        self.stats = self.flow()
        depth = len(self.stats.signal_norm)
        layers = np.arange(1, depth + 1)
        self.signal_line.set_data(layers, finite_or_nan(self.stats.signal_norm))
        predicted = theory.predicted_signal_profile(
            depth, sw, sb, name, input_mean_square=self.input_mean_square)
        self.theory_line.set_data(layers, np.asarray(predicted) * self.stats.signal_norm[-1])
        rescale(self.signal_line.axes)
        fit_log_ticks(self.signal_line.axes)
        critical = float(theory.critical_sigma_w(sb, name))
        grid_edge = self.diagram(name).measured_edge(sb)
        signal = self.stats.signal_norm
        measured = (signal[0] / signal[-1]) ** (1 / (depth - 1))
        gain = float(theory.signal_gain_per_layer(sw, sb, name))
        self.summary.value = phase_summary(name, sw, sb, measured, gain, critical, grid_edge,
                                           depth)
        self.redraw()


def critical_band(depth: int) -> float:
    """How far from 1 a net exactly on the edge can measure per layer at this depth: at
    tanh's critical point (1, 0) the signal decays as the power law sqrt(l / depth)
    (chapter 3), so layer 1 gets sqrt(1 / depth) of the last layer's signal, a factor
    depth^(-1 / (2 (depth - 1))) per layer (0.96 at depth 50). Returns 1 minus it."""
    return 1.0 - depth ** (-1.0 / (2.0 * (depth - 1)))


def phase_summary(name, sigma_w, sigma_b, measured, gain, critical, grid_edge,
                  depth) -> str:
    """The phase-diagram explorer's line: the chosen point's gain per layer, measured and
    predicted, the edge of chaos at its sigma_b by theory and by the measured grid, and
    the side of the edge the point is on, by the measurement and by the theory.

    The measured side: "ordered" below 1 - band, "chaotic" above 1 / (1 - band), and
    "on the edge, as far as this depth resolves" between, with band = critical_band(depth).
    The theory's side: "on the edge" within half a slider step (0.025) of its critical
    sigma_w."""
    grid = ("the measured ln gain does not cross 0 (factor 1) on this row"
            if not np.isfinite(grid_edge)
            else f"the measured ln gain crosses 0 (factor 1) at σ_w ≈ {grid_edge:.2f} "
                 "(interpolated between grid points)")
    low = 1.0 - critical_band(depth)
    edge = f"the factor of a net exactly on the edge at depth {depth}"
    if measured < low:
        side = f"on the ordered (vanishing) side: below {low:.2f}, {edge}"
    elif measured > 1.0 / low:
        side = f"on the chaotic (exploding) side: above {1 / low:.2f}, 1 / {edge}"
    else:
        side = (f"on the edge, as far as depth {depth} resolves: between {low:.2f} "
                f"({edge}) and {1 / low:.2f}")
    if not np.isfinite(critical):
        by_theory = "mean-field theory has no edge at this σ_b"
    elif abs(sigma_w - critical) <= 0.025:
        by_theory = "mean-field theory puts it on the edge"
    else:
        by_theory = ("mean-field theory puts it on the "
                     + ("ordered" if sigma_w < critical else "chaotic") + " side")
    return (f"{name}, σ_w = {sigma_w:.2f}, σ_b = {sigma_b:.2f}: going back one layer the "
            f"signal is multiplied by {measured:.2f} (mean-field theory at the variance's "
            f"fixed point: {gain:.2f}). Edge of chaos at this σ_b: σ_w = {critical:.3f} by "
            f"mean-field theory; {grid}. Measured, this point is {side}; {by_theory}.")


class IsometryExplorer(Explorer):
    """Dynamical isometry: the singular values of the input-output Jacobian of a deep
    square net at initialisation, Gaussian against orthogonal weights, for the depth on
    the slider. The spectra of every depth are computed when the explorer starts
    (gradviz.flow.jacobian_spectra); the slider only picks a row.
    """

    INITS = ("gaussian", "orthogonal")

    def __init__(self, depth=10, activation="tanh", scale=1.0, width=64, max_depth=64,
                 seed=0):
        check_choice("activation", activation, ("linear", "tanh"))
        check_int_range("max_depth", max_depth, 1, 256)
        check_int_range("depth", depth, 1, max_depth)
        check_float_range("scale", scale, 0.5, 2.0)
        super().__init__(figsize=(9, 3.4))
        key = jax.random.PRNGKey(seed)
        self.spectra = {(act, init): jacobian_spectra(key, width, max_depth, act, init, scale)
                        for act in ("linear", "tanh") for init in self.INITS}
        style = {"description_width": "initial"}
        self.depth = widgets.IntSlider(depth, 1, max_depth, description="depth", style=style)
        self.activation = widgets.ToggleButtons(options=("linear", "tanh"), value=activation,
                                                description="activation")
        self.controls = [self.depth, self.activation]
        ax_sorted, ax_range = self.fig.subplots(1, 2)
        colors = {"gaussian": COLORS["vermillion"], "orthogonal": COLORS["blue"]}
        units = np.arange(1, width + 1)
        self.lines = {init: ax_sorted.semilogy(units, np.ones(width), "o-", ms=2,
                                               color=colors[init], label=init)[0]
                      for init in self.INITS}
        ax_sorted.set(xlabel="singular value number (largest first)",
                      ylabel="singular value", title="Spectrum of dh_depth / dh_0")
        ax_sorted.legend(fontsize=7)
        depths = np.arange(1, max_depth + 1)
        self.range_lines = {}
        for init in self.INITS:
            self.range_lines[init] = (
                ax_range.semilogy(depths, np.ones(max_depth), "-", color=colors[init],
                                  label=f"{init}: largest")[0],
                ax_range.semilogy(depths, np.ones(max_depth), ":", color=colors[init],
                                  label=f"{init}: smallest")[0])
        self.depth_marker = ax_range.axvline(depth, color="black", lw=1, ls="--")
        ax_range.set(xlabel="depth", ylabel="singular value", title="Largest and smallest")
        ax_range.legend(fontsize=7)
        for ax in (ax_sorted, ax_range):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout(self.controls)
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Show the spectra at the chosen depth (no computation: a row of the table)."""
        depth, act = self.depth.value, self.activation.value
        parts = []
        for init in self.INITS:
            spectra = self.spectra[(act, init)]
            values = spectra.at(depth)
            self.lines[init].set_ydata(finite_or_nan(values))
            largest, smallest = self.range_lines[init]
            largest.set_ydata(finite_or_nan(spectra.singular_values[:, 0]))
            smallest.set_ydata(finite_or_nan(spectra.singular_values[:, -1]))
            parts.append(f"{init}: largest {values[0]:.3g}, smallest {values[-1]:.2g}, "
                         f"largest/smallest {values[0] / values[-1]:.2g}")
        self.depth_marker.set_xdata([depth, depth])
        for line in (self.lines["gaussian"], self.range_lines["gaussian"][0]):
            rescale(line.axes)
            decade_ticks(line.axes)
        self.summary.value = f"{act}, depth {depth}: " + "; ".join(parts) + "."
        self.redraw()


# --------------------------------------------------------------------------- chapter 4



class StepSizeExplorer(Explorer):
    """The error of central differences against the step size eps: the U-curve.

    Right of the best eps the truncation error (~ eps^2) rules, left of it the round-off
    (~ machine_eps |f| / eps). Both dtypes' curves are computed when the explorer is made
    (one vectorised sweep each); the eps slider and the dtype toggle only move the marker
    and the threshold line. Default problem: the chapter's two-layer network; or pass
    f(params, *args) -> scalar, params and args.
    """

    EPS = np.logspace(-12, 0, 49)

    def __init__(self, eps=1e-5, dtype="float64", f=None, params=None, args=()):
        check_float_range("eps", eps, float(self.EPS[0]), float(self.EPS[-1]))
        check_choice("dtype", dtype, _gradcheck.DTYPES)
        if f is None:
            params, *args = _gradcheck.two_layer_example(jax.random.PRNGKey(0))
            f = _gradcheck.two_layer_loss
        super().__init__(figsize=(6.5, 3.4))
        self.sweeps = {name: _gradcheck.step_size_sweep(f, params, *args, eps_values=self.EPS,
                                                        dtype=name)
                       for name in _gradcheck.DTYPES}
        ax = self.fig.subplots()
        colors = {"float64": COLORS["blue"], "float32": COLORS["orange"]}
        self.curves = {name: ax.loglog(self.EPS, np.maximum(sweep.error, 1e-17), "o-", ms=2,
                                       color=colors[name], label=name)[0]
                       for name, sweep in self.sweeps.items()}
        self.good_line = ax.axhline(1.0, color="0.4", ls=":", lw=1, label="'good' threshold")
        self.marker = ax.plot([], [], "o", ms=9, mfc="none", mew=2, color=COLORS["black"],
                              label="chosen eps")[0]
        ax.set(xlabel="step eps", ylabel="relative error", ylim=(1e-17, 10),
               title="Central differences: error against step")
        ax.legend(fontsize=7, loc="lower left")
        few_ticks(ax)
        self.fig.tight_layout()
        options = [(f"{e:.0e}", i) for i, e in enumerate(self.EPS)]
        start = int(np.argmin(np.abs(np.log(self.EPS / eps))))
        self.eps = widgets.SelectionSlider(options=options, value=start, description="eps",
                                           continuous_update=True)
        self.dtype = widgets.ToggleButtons(options=_gradcheck.DTYPES, value=dtype,
                                           description="dtype")
        self.widget = self.layout([self.eps, self.dtype])
        for control in (self.eps, self.dtype):
            control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        """Move the marker to the chosen eps on the chosen dtype's curve."""
        name, index = self.dtype.value, self.eps.value
        sweep = self.sweeps[name]
        eps, error = float(self.EPS[index]), float(sweep.error[index])
        self.marker.set_data([eps], [max(error, 1e-17)])
        self.good_line.set_ydata([_gradcheck.BANDS[name][0]] * 2)
        for other, line in self.curves.items():
            line.set_linewidth(2.0 if other == name else 0.8)
        if eps < sweep.best_eps:
            regime = "round-off rules (smaller steps make it worse)"
        elif eps > sweep.best_eps:
            regime = "truncation rules (it falls like eps^2 as eps shrinks)"
        else:
            regime = "the best step"
        self.summary.value = (
            f"{name}, eps = {eps:.0e}: relative error {error:.1e}, {regime}. Best: eps = "
            f"{sweep.best_eps:.0e} with {sweep.best_error:.1e}; a check is 'good' below "
            f"{_gradcheck.BANDS[name][0]:.0e}.")
        self.redraw()
