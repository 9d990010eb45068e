"""Chapter 3's comparison figures: signal profiles and training runs of several
fixes side by side (draw_fix)."""


import numpy as np
from matplotlib.axes import Axes

from gradviz.plots.style import (
    few_ticks,
    finite_or_nan,
    fit_log_ticks,
    style_of,
)


def draw_signal_profiles(ax: Axes, flows: dict, xlabel: str = "layer l",
                         title: str = "Gradient flow at initialisation",
                         styles: dict | None = None) -> dict:
    """||dL/dh_l|| against layer l (or time step) for several networks (name ->
    FlowStats or RNNFlowStats), log y. styles: name -> Line2D keywords (color, ls);
    by default the i-th network gets style_of(i).

    Returns name -> Line2D.
    """
    lines = {}
    for i, (name, stats) in enumerate(flows.items()):
        layers = np.arange(1, len(stats.signal_norm) + 1)
        style = (styles or {}).get(name, style_of(i))
        lines[name] = ax.semilogy(layers, finite_or_nan(stats.signal_norm), marker="o", ms=2,
                                  label=name, **style)[0]
    ax.set(xlabel=xlabel, ylabel="||dL/dh||", title=title)
    few_ticks(ax)
    fit_log_ticks(ax)
    return lines


def draw_runs(ax: Axes, curves: dict, ylabel: str, log: bool = False,
              styles: dict | None = None) -> dict:
    """Training curves over several seeds: for each name -> values (runs, steps), the
    mean over runs as a line and the range (min to max) as a shaded band. styles: name
    -> Line2D keywords (color, ls); by default the i-th curve gets style_of(i).

    Returns name -> (Line2D, band). Steps where a run overflowed leave a gap.
    """
    artists = {}
    for i, (name, values) in enumerate(curves.items()):
        values = finite_or_nan(values)
        steps = np.arange(values.shape[1])
        with np.errstate(all="ignore"):
            mean, low, high = values.mean(0), values.min(0), values.max(0)
        style = (styles or {}).get(name, style_of(i))
        line = ax.plot(steps, mean, lw=1.2, label=name, **style)[0]
        band = ax.fill_between(steps, low, high, color=style["color"], alpha=0.2, lw=0)
        artists[name] = (line, band)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=ylabel)
    few_ticks(ax)
    fit_log_ticks(ax)
    return artists


def draw_fix(axes, flows: dict, logs: dict, title: str = "", xlabel: str = "layer l",
             flow_title: str = "Gradient flow at initialisation",
             flow_styles: dict | None = None) -> None:
    """One fix, before and after, on three axes: the gradient flow (name -> FlowStats),
    then training loss and test accuracy over seeds (name -> TrainLog with a leading
    runs axis, as from gradviz.train.train_mlp_seeds). Logs without a test set show the
    training accuracy; mse logs show the loss only.

    Each log's name keeps one colour and dash pattern in every panel (style_of, in the
    order of `logs`); a flow of the same name gets the same style. flow_styles: flow
    name -> (log name, dash pattern), for flows of another name (for example a network
    at initialisation and after training: one colour, two dash patterns); the loss panel
    then gets a legend of its own.
    """
    ax_flow, ax_loss, ax_acc = axes
    styles = {name: style_of(i) for i, name in enumerate(logs)}
    line_styles = dict(styles)
    for name, (log_name, dashes) in (flow_styles or {}).items():
        line_styles[name] = {"color": styles[log_name]["color"], "ls": dashes}
    draw_signal_profiles(ax_flow, flows, xlabel, flow_title, line_styles)
    draw_runs(ax_loss, {name: log.loss for name, log in logs.items()}, "training loss",
              log=True, styles=styles)
    ax_loss.set_title("Loss (mean, range over seeds)")
    first = next(iter(logs.values()))
    if first.test_accuracy is not None or first.accuracy is not None:
        field = "test_accuracy" if first.test_accuracy is not None else "accuracy"
        curves = {name: getattr(log, field) for name, log in logs.items()}
        draw_runs(ax_acc, curves, field.replace("_", " "), styles=styles)
        ax_acc.set(ylim=(0, 1), title="Accuracy (mean, range over seeds)")
    elif first.test_loss is not None:
        draw_runs(ax_acc, {name: log.test_loss for name, log in logs.items()}, "test loss",
                  log=True, styles=styles)
        ax_acc.set_title("Test loss (mean, range over seeds)")
    ax_flow.legend(fontsize=7)
    if flow_styles:
        ax_loss.legend(fontsize=7)
    if title:
        ax_flow.figure.suptitle(title, fontsize=10)

