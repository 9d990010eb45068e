"""TrainingExplorer: train an MLP live, with Play / Pause / Step / Reset, and watch the
per-layer gradient norms and update ratios that tell whether each layer learns.

Each tick of the Play widget (or press of Step) runs `gradviz.live.train_steps` for
`steps_per_tick` steps (one jitted scan), then updates the figure in place. The Play
widget's ticks are messages to the kernel; ipywidgets sends a new value only once the
kernel has taken the last one, so a slow tick delays the next one and never queues a
backlog, and the kernel stays free for the other controls (Pause among them).
"""

import ipywidgets as widgets
import jax

from gradviz.activations import ACTIVATION_NAMES
from gradviz.init import INIT_SCHEMES
from gradviz.live import (
    BATCH_SIZES,
    CLIPPING,
    MAX_DEPTH,
    OPTIMIZERS,
    TASKS,
    Architecture,
    Hyper,
    check_architecture,
    check_hyper,
    class_probability,
    diagnose,
    extend,
    make_task,
    start_run,
    train_steps,
)
from gradviz.models import NORMS
from gradviz.plots.training import boundary_grid, draw_training, show_task, update_training
from gradviz.validate import check_choice, check_float_range, check_int_range
from gradviz.widgets.base import COLUMN_WIDTH, WRAP, Explorer

WIDTHS = (16, 32, 64, 128)


class TrainingExplorer(Explorer):
    """Train an MLP on a 2-D task or the digits, live.

    Architecture controls (task, noise, depth, width, activation, init, scale, norm,
    residual) start a new run; optimizer controls (optimizer, learning rate, clipping,
    threshold, weight decay, batch size) take effect at the next step.
    """

    def __init__(self, task="moons", noise=0.2, arch: Architecture | None = None,
                 hyper: Hyper | None = None, steps_per_tick=10, seed=0):
        arch = check_architecture(arch or Architecture())
        hyper = check_hyper(hyper or Hyper())
        check_choice("task", task, TASKS)
        check_float_range("noise", noise, 0.0, 1.0)
        if arch.width not in WIDTHS:
            raise ValueError(f"width must be one of {WIDTHS}, got {arch.width!r}")
        self.steps_per_tick = check_int_range("steps_per_tick", steps_per_tick, 1, 1000)
        self.key = jax.random.PRNGKey(seed)
        super().__init__(figsize=(COLUMN_WIDTH, 5.6))
        style = {"description_width": "initial"}
        self.task = widgets.Dropdown(options=TASKS, value=task, description="task")
        self.noise = widgets.FloatSlider(value=noise, min=0.0, max=1.0, step=0.05,
                                         description="noise")
        self.depth = widgets.IntSlider(value=arch.depth, min=1, max=MAX_DEPTH,
                                       description="depth")
        self.width = widgets.Dropdown(options=WIDTHS, value=arch.width, description="width")
        self.activation = widgets.Dropdown(options=ACTIVATION_NAMES, value=arch.activation,
                                           description="activation")
        self.init = widgets.Dropdown(options=INIT_SCHEMES, value=arch.init, description="init")
        self.scale = widgets.FloatLogSlider(value=arch.scale, base=10, min=-1, max=1,
                                            step=0.05, description="init scale")
        self.norm = widgets.Dropdown(options=NORMS, value=arch.norm, description="norm")
        self.residual = widgets.Checkbox(value=arch.residual, description="residual")
        self.optimizer = widgets.Dropdown(options=OPTIMIZERS, value=hyper.optimizer,
                                          description="optimizer")
        self.lr = widgets.FloatLogSlider(value=hyper.lr, base=10, min=-4, max=0.5, step=0.1,
                                         description="learning rate", style=style)
        self.clipping = widgets.Dropdown(options=CLIPPING, value=hyper.clipping,
                                         description="clipping")
        self.threshold = widgets.FloatLogSlider(value=hyper.threshold, base=10, min=-2, max=2,
                                                step=0.1, description="clip at")
        self.weight_decay = widgets.FloatSlider(value=hyper.weight_decay, min=0.0, max=0.1,
                                                step=0.005, description="weight decay",
                                                style=style, readout_format=".3f")
        self.batch_size = widgets.Dropdown(
            options=[("full" if b is None else str(b), b) for b in BATCH_SIZES],
            value=hyper.batch_size, description="batch")
        self.play = widgets.Play(value=0, min=0, max=10**9, interval=50, show_repeat=False,
                                 description="play")
        self.step_button = widgets.Button(description="Step", tooltip="one tick of steps")
        self.reset_button = widgets.Button(description="Reset", tooltip="a new run")
        self.architecture_controls = [self.task, self.noise, self.depth, self.width,
                                      self.activation, self.init, self.scale, self.norm,
                                      self.residual]
        self.optimizer_controls = [self.optimizer, self.lr, self.clipping, self.threshold,
                                   self.weight_decay, self.batch_size]
        self.artists = None
        self.load_task()
        for control in self.architecture_controls:
            control.observe(self.on_architecture, "value")
        self.play.observe(lambda change: self.step(), "value")
        self.step_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        self.widget = widgets.VBox([
            widgets.HTML("<b>Network</b> (a change starts a new run)"),
            *self.rows(self.architecture_controls),
            widgets.HTML("<b>Training</b> (a change takes effect at the next step)"),
            *self.rows(self.optimizer_controls),
            widgets.HBox([self.play, self.step_button, self.reset_button]),
            self.view, self.summary])

    @staticmethod
    def rows(controls, per_row=3):
        return [widgets.HBox(controls[i:i + per_row], layout=WRAP)
                for i in range(0, len(controls), per_row)]

    @property
    def arch(self) -> Architecture:
        return Architecture(self.depth.value, self.width.value, self.activation.value,
                            self.init.value, float(self.scale.value), self.norm.value,
                            bool(self.residual.value))

    @property
    def hyper(self) -> Hyper:
        return Hyper(self.optimizer.value, float(self.lr.value), self.clipping.value,
                     float(self.threshold.value), float(self.weight_decay.value),
                     self.batch_size.value)

    def load_task(self) -> None:
        """Make the data of the chosen task, point the figure at it, start a new run."""
        self.data = make_task(self.task.value, self.noise.value)
        two_d = self.data.x_train.shape[1] == 2
        self.grid, extent = boundary_grid(self.data.x_train) if two_d else (None, (0, 1, 0, 1))
        if self.artists is None:
            axes = self.fig.subplots(2, 2).ravel()
            # fixed margins: a layout engine would re-measure every label on every redraw
            self.fig.subplots_adjust(left=0.12, right=0.95, bottom=0.08, top=0.93,
                                     hspace=0.6, wspace=0.45)  # room for two-line titles
            self.artists = draw_training(axes, self.data.x_train, self.data.y_train, extent)
            self.animate(self.artists.animated())
        show_task(self.artists, self.data.x_train, self.data.y_train, extent, two_d)
        self.reset(full=True)  # the middle panel's titles and labels changed

    def on_architecture(self, change) -> None:
        if change["owner"] in (self.task, self.noise):
            self.load_task()
        else:
            self.reset()

    def reset(self, full: bool = False) -> None:
        """A new run with the current settings (a new seed each time); `full`: redraw the
        whole figure, not only its animated artists."""
        self.key, run_key = jax.random.split(self.key)
        self.run = start_run(run_key, self.data, self.arch, self.hyper)
        self.history = None
        self.show(full)

    def step(self) -> None:
        """steps_per_tick more training steps, then the figure and summary."""
        self.run, log = train_steps(self.run, self.data, self.arch, self.hyper,
                                    self.steps_per_tick)
        self.history = extend(self.history, log)
        self.show()

    def show(self, full: bool = False) -> None:
        arch = self.arch
        probability = None if self.grid is None else class_probability(self.run, arch,
                                                                        self.grid)
        update_training(self.artists, self.history, arch.depth, probability)
        self.summary.value = ("press Play or Step to train" if self.history is None
                              else f"step {self.run.step}: " + diagnose(self.history,
                                                                        arch.depth))
        self.redraw(full)
