"""Live explorers: controls + a figure + `update()`.

An explorer computes with the jitted core, then changes its artists' data in place and
calls `draw_idle()`: a slider move never rebuilds the figure and never recompiles.
With `%matplotlib widget` (ipympl) the figure is live; elsewhere (plain inline
backends, Colab) the same controls redraw a static image inside an Output widget.
"""

import importlib.util
import sys

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

from gradviz import theory
from gradviz.activations import ACTIVATION_NAMES, activation_index
from gradviz.data import adding_problem, digits
from gradviz.flow import _jacobian_norms, gradient_flow, loss_value, rnn_gradient_flow
from gradviz.init import INIT_SCHEMES, init_index, sigma_w
from gradviz.models import RNN_CELLS, apply_rnn, init_mlp, init_rnn
from gradviz.plots import (
    COLORS,
    draw_flow,
    few_ticks,
    finite_or_nan,
    flow_summary,
    overflow_message,
    rescale,
    update_flow,
)
from gradviz.train import clip_fraction, record_clipping, train_rnn
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
    """Per-layer gradient flow of an MLP on 256 digit images, with sliders.

    Controls: model, depth (1-64), width, activation, init scheme, init scale (gain on
    the scheme's std; sigma_w is shown), bias scale sigma_b, and a log/linear axis.
    """

    def __init__(self, depth=30, width=128, activation="sigmoid", init="xavier", scale=1.0,
                 bias_scale=0.0, model="MLP", seed=0, n_examples=256):
        check_int_range("depth", depth, 1, MAX_DEPTH)
        check_choice("width", width, WIDTHS)
        check_choice("model", model, list(MODELS))
        activation_index(activation)  # a ValueError listing the valid names
        init_index(init)
        check_float_range("init scale", scale, 0.1, 5.0)
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
        self.scale = widgets.FloatSlider(scale, min=0.1, max=5.0, step=0.05,
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
        self.fig.tight_layout()
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
        update_flow(self.artists, self.stats, self._theory())
        if self.artists.signal.axes.get_yscale() != self.yscale.value:
            self.artists.signal.axes.set_yscale(self.yscale.value)
            few_ticks(self.artists.signal.axes)
        gain = ""
        if self.model.value == "MLP":
            predicted = theory.signal_gain_per_layer(self.sigma_w, self.bias_scale.value,
                                                     self.activation.value)
            gain = f" Mean-field theory: {float(predicted):.2f}x per layer."
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
        self.image = ax_map.imshow(np.zeros((len(self.SCALES), max_length)), aspect="auto",
                                   origin="lower", cmap="viridis", vmin=-8, vmax=0,
                                   extent=(-0.5, max_length - 0.5, 0, len(self.SCALES)))
        ax_map.set(xlabel="lag T - t", ylabel="recurrent scale",
                   title=f"log10 ||dh_T/dh_t|| per unit, T = {max_length}")
        ax_map.set_yticks(np.arange(len(self.SCALES))[::3] + 0.5, self.SCALES[::3])
        self.scale_line = ax_map.axhline(0, color="white", ls="--", lw=1)
        self.fig.colorbar(self.image, ax=ax_map)
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
        xs = self.xs[:4]
        norms = jax.vmap(_jacobian_norms, in_axes=(0, None, None, None))(
            stacked, xs, activation_index("tanh"), xs.shape[1])
        self.lag_map = np.asarray(norms)[:, ::-1]  # (scales, lag)
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
        self.overflow.set_text(overflow_message(self.stats).replace("layer", "step"))
        row = np.interp(self.recurrent_scale.value, self.SCALES, np.arange(len(self.SCALES)))
        self.scale_line.set_ydata([row + 0.5, row + 0.5])
        self.summary.value = rnn_summary(self.stats, self.cell.value,
                                         self.recurrent_scale.value)
        self.redraw()


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
    Left: training loss per method. Middle: fraction of steps clipped against the
    threshold. Right: the first step in the plane of the gradient's two largest
    coordinates: clipping by norm shortens it, clipping by value also turns it.
    """

    THRESHOLDS = np.logspace(-2, 2, 17)

    def __init__(self, threshold=1.0, activation="linear", recurrent_scale=1.1, lr=0.01,
                 steps=200, length=30, hidden=16, seed=0):
        check_float_range("clip threshold", threshold, self.THRESHOLDS[0], self.THRESHOLDS[-1])
        check_int_range("steps", steps, 1, 10_000)
        super().__init__(figsize=(10, 3.4))
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
        self.clip_fraction = {name: np.asarray(clip_fraction(self.logs[name]))
                              for name in CLIP_METHODS}
        self.gradient = jax.grad(
            lambda p: loss_value(apply_rnn(p, xs[:64], activation), y[:64], "mse"))(params)

        options = [(f"{c:.3g}", i) for i, c in enumerate(self.THRESHOLDS)]
        start = int(np.argmin(np.abs(np.log(self.THRESHOLDS / threshold))))
        self.threshold = widgets.SelectionSlider(options=options, value=start,
                                                 description="clip threshold",
                                                 style={"description_width": "initial"})
        ax_loss, ax_frac, ax_step = self.fig.subplots(1, 3)
        colors = {"none": COLORS["vermillion"], "value": COLORS["orange"],
                  "global norm": COLORS["blue"]}
        self.loss_lines = {name: ax_loss.plot([], [], color=colors[name], label=name)[0]
                           for name in self.logs}
        ax_loss.set(yscale="log", xlabel="step", ylabel="training loss", title="Training")
        ax_loss.legend(fontsize=7, title="clipping", title_fontsize=7)
        self.nan_text = ax_loss.text(0.03, 0.92, "", transform=ax_loss.transAxes, fontsize=8,
                                     color=COLORS["vermillion"])
        for name in CLIP_METHODS:
            ax_frac.semilogx(self.THRESHOLDS, self.clip_fraction[name], "o-", ms=3,
                             color=colors[name], label=name)
        self.marker = ax_frac.axvline(threshold, color="black", lw=1, ls="--")
        ax_frac.set(xlabel="threshold", ylabel="fraction of steps clipped", ylim=(-0.03, 1.03),
                    title="How often it clips")
        ax_frac.legend(fontsize=7)
        self.arrows = {name: ax_step.annotate("", (0, 0), (0, 0), arrowprops={
            "arrowstyle": "->", "color": colors[name], "lw": 2}) for name in self.logs}
        ax_step.set(xlabel="largest gradient coordinate", ylabel="second largest",
                    xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), aspect="equal",
                    title="Direction of the first step")
        ax_step.axhline(0, color="0.8", lw=0.8)
        ax_step.axvline(0, color="0.8", lw=0.8)
        for ax in (ax_loss, ax_frac):
            few_ticks(ax)
        self.fig.tight_layout()
        self.widget = self.layout([self.threshold])
        self.threshold.observe(self.update, names="value")
        self.update()

    def clipped_step(self, method: str, threshold: float) -> np.ndarray:
        """The first update's direction for `method`: the gradient, flattened, clipped."""
        flat, _ = jax.flatten_util.ravel_pytree(self.gradient)
        if method == "none":
            return np.asarray(flat)
        clipped, _ = CLIP_METHODS[method](threshold).update(self.gradient, ())
        return np.asarray(jax.flatten_util.ravel_pytree(clipped)[0])

    def update(self, change=None) -> None:
        """Show the runs and the first step for the chosen threshold."""
        index = self.threshold.value
        threshold = float(self.THRESHOLDS[index])
        lines = []
        for name, log in self.logs.items():
            loss = np.asarray(log.loss if name == "none" else log.loss[index])
            self.loss_lines[name].set_data(np.arange(len(loss)), finite_or_nan(loss))
            bad = np.flatnonzero(~np.isfinite(loss))
            final = f"final loss {loss[-1]:.3f}"
            outcome = f"inf/NaN from step {bad[0]}" if bad.size else final
            if name == "none":
                self.nan_text.set_text(f"no clipping: {outcome}" if bad.size else "")
                lines.append(f"no clipping: {outcome}")
            else:
                lines.append(f"by {name}: {outcome}, "
                             f"{self.clip_fraction[name][index]:.0%} of steps clipped")
        rescale(self.loss_lines["none"].axes)
        self.marker.set_xdata([threshold, threshold])
        raw = self.clipped_step("none", threshold)
        top = np.argsort(-np.abs(raw))[:2]
        cosines, lengths = {}, {}
        for name, arrow in self.arrows.items():
            step = self.clipped_step(name, threshold)
            lengths[name] = float(np.linalg.norm(step))
            cosines[name] = float(step @ raw / (lengths[name] * np.linalg.norm(raw)))
            # descent goes against the update; drawn at unit length: direction only
            arrow.xy = tuple(-step[top] / np.linalg.norm(step[top]))
        self.summary.value = (
            f"Threshold {threshold:.3g}: " + "; ".join(lines) + ". First step: length "
            f"{lengths['none']:.3g} unclipped, {lengths['global norm']:.3g} by global norm "
            f"(cos = {cosines['global norm']:.2f} with the gradient: same direction), "
            f"{lengths['value']:.3g} by value (cos = {cosines['value']:.2f}).")
        self.redraw()
