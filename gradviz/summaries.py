"""Every one-line text summary shown under (or on) a figure, in one place.

Pure functions of result objects and numbers: no matplotlib, no ipywidgets. Each says in
words what its figure shows, so the figure can be read without seeing it (and tested).
"""

import numpy as np

from gradviz.attribution import rank_correlation
from gradviz.flow import FlowStats, gain_per_layer

# --------------------------------------------------------------------------- gradient flow


def layer_ranges(mask) -> str:
    """The layers (1-based) where mask: (depth,) is True, as "layer 3", "layers 5-9" or
    "layers 1-2 and 7"; "" when there are none."""
    where = np.flatnonzero(np.asarray(mask)) + 1
    if where.size == 0:
        return ""
    runs = np.split(where, np.flatnonzero(np.diff(where) > 1) + 1)
    words = [f"{r[0]}" if r.size == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    text = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
    return ("layer " if where.size == 1 else "layers ") + text


def overflow_message(stats, unit: str = "layer") -> str:
    """Where inf/NaN appeared in a FlowStats (unit "layer") or RNNFlowStats (unit "step"),
    in words ("" when everything is finite)."""
    parts = []
    if stats.first_nonfinite_forward is not None:
        parts.append(f"activations inf/NaN from {unit} {stats.first_nonfinite_forward}")
    if stats.first_nonfinite_backward is not None:
        parts.append(f"gradients inf/NaN from {unit} {stats.first_nonfinite_backward} down")
    return "; ".join(parts)


def flow_summary(stats: FlowStats) -> str:
    """One line that says what the gradient-flow figure shows, for reading without it."""
    signal = np.asarray(stats.signal_norm, dtype=np.float64)
    depth = len(signal)
    if overflow_message(stats):
        return overflow_summary(stats)
    if depth == 1:
        return f"One layer: ||dL/dh_1|| = {signal[0]:.2g}."
    if signal[-1] == 0 or signal[0] == 0:
        layer = 1 + int(np.flatnonzero(signal == 0)[-1])
        if np.asarray(stats.dead_fraction)[layer - 1] >= 1:
            why = f"every unit of layer {layer} is dead and passes no gradient"
        else:
            why = "it fell below the smallest float32 number (underflow)"
        return f"The signal is exactly 0 at layer {layer} and below: {why}."
    verb, factor, total = _change_per_step(signal)
    return (f"Going back one layer, the signal {verb} {factor:.2f}x; "
            f"layer 1 gets {total:.1e} of layer {depth}'s signal.")

def _change_per_step(signal: np.ndarray) -> tuple[str, float, float]:
    """("shrinks" or "grows", gain per layer/step, first / last) of a finite, nonzero
    backward signal (n,)."""
    factor = gain_per_layer(signal)
    return ("shrinks" if factor < 1 else "grows"), factor, signal[0] / signal[-1]


def where_not_drawn(name: str, values) -> str:
    """'name: inf/NaN at layers ..., 0 at layers ...' where a log axis cannot draw values:
    (depth,); "" when every value is finite and nonzero."""
    values = np.asarray(values, np.float64)
    bad, zero = layer_ranges(~np.isfinite(values)), layer_ranges(values == 0)
    if not bad:
        return ""
    return f"{name}: inf/NaN at {bad}" + (f",\n    exactly 0 at {zero}" if zero else "")


def panel_note(stats: FlowStats) -> str:
    """The gradient panel's note after an overflow: where the activations and each
    gradient are inf/NaN (hatched) or exactly 0 (not drawn on a log axis); "" if none."""
    lines = []
    if stats.first_nonfinite_forward is not None:
        lines.append(f"activations inf/NaN from layer {stats.first_nonfinite_forward} on")
    for name, values in (("||dL/dh_l||", stats.signal_norm),
                         ("||dL/dW_l||", stats.weight_grad_norm)):
        note = where_not_drawn(name, values)
        if note:
            lines.append(note)
    return "\n".join(lines)


def overflow_summary(stats: FlowStats) -> str:
    """Where inf/NaN appeared in a pass that overflowed, in words: the layer the
    activations overflowed at (and how fast they grew before it), the loss, and, for each
    gradient, the layers where it is inf/NaN and those where it is exactly 0."""
    parts = []
    forward = stats.first_nonfinite_forward
    if forward is not None:
        text = f"activations inf/NaN from layer {forward} on"
        std = np.asarray(stats.act_std)
        if forward > 2 and std[0] > 0 and std.dtype.kind == "f":
            growth = (float(std[forward - 2]) / float(std[0])) ** (1 / (forward - 2))
            text += (f" (their spread grows {growth:.1f}x per layer, past {std.dtype.name}'s "
                     f"largest number, {float(np.finfo(std.dtype).max):.1e})")
        parts.append(text)
    if not np.isfinite(stats.loss):
        parts.append(f"the loss is {'NaN' if np.isnan(stats.loss) else stats.loss}, so the "
                     f"backward pass starts from it")
    for name, values in (("||dL/dh_l||", stats.signal_norm),
                         ("||dL/dW_l||", stats.weight_grad_norm)):
        values = np.asarray(values, np.float64)
        bad, zero = layer_ranges(~np.isfinite(values)), layer_ranges(values == 0)
        if bad:
            parts.append(f"{name} is inf/NaN at {bad}" + (f" and exactly 0 at {zero}"
                                                           if zero else ""))
    return "Overflow: " + "; ".join(parts) + "."


def flow_explorer_summary(stats, predicted_gain, predicted_signal, sigma_w: float,
                          sigma_b: float) -> str:
    """The flow explorer's line: `flow_summary`, then (for a plain MLP, predicted_gain not
    None) mean-field theory's gain per layer at the fixed point q*, and the mean gain of
    the predicted profile predicted_signal: (depth,) where it differs (q_l still far
    from q*); then sigma_w and sigma_b."""
    gain = ""
    if predicted_gain is not None:
        predicted = float(predicted_gain)
        gain = f" Mean-field theory: {predicted:.2f}x per layer."
        depth = len(stats.signal_norm)
        ends = (np.array([0.0, 0.0]) if predicted_signal is None
                else np.asarray(predicted_signal, np.float64)[[0, -1]])
        if depth > 1 and np.all(np.isfinite(ends) & (ends > 0)):  # far from q* still?
            mean_gain = gain_per_layer(np.asarray(predicted_signal, np.float64))
            if f"{mean_gain:.2f}" != f"{predicted:.2f}":
                gain = (f" Mean-field theory: {predicted:.2f}x per layer at the "
                        f"fixed point q*, which q_l approaches slowly here: "
                        f"{mean_gain:.2f}x per layer over these {depth} layers.")
    return f"{flow_summary(stats)}{gain} (sigma_w = {sigma_w:.2f}, sigma_b = {sigma_b:.2f})"


def rnn_summary(stats, cell: str, scale: float) -> str:
    """One line saying what the gradient-through-time plot of an RNNFlowStats shows."""
    signal = np.asarray(stats.signal_norm, dtype=np.float64)
    name = f"{cell} RNN, recurrent scale {scale:.2f}"
    if not np.all(np.isfinite(signal)):
        return f"{name}: overflow ({overflow_message(stats, 'step')})."
    if len(signal) < 2 or signal[-1] == 0:
        return f"{name}."
    verb, factor, total = _change_per_step(signal)
    return (f"{name}: going back one step the gradient {verb} {factor:.2f}x; "
            f"step 1 gets {total:.1e} of step {len(signal)}'s gradient.")


# --------------------------------------------------------------------------- clipping


def clip_outcome(point, name: str) -> str:
    """How the run `name` ("none" or a clipping method) of a ClipPoint (gradviz.experiments)
    went, in words: its final loss or where it diverged, and how many steps it clipped."""
    loss, diverged, nonfinite = point.loss[name], point.diverged[name], point.nonfinite[name]
    if diverged is None:
        text = f"loss {loss[-1]:.2g} after {len(loss)} steps"
    else:
        text = f"diverged at step {diverged}"
        if np.any(nonfinite):
            text += f" (inf/NaN first at step {int(np.argmax(nonfinite))})"
    if name != "none" and diverged is None:
        clipped, finite = point.clipped[name], point.finite[name]
        text += (f", clipped {clipped} of {finite} steps" if finite == len(loss) else
                 f", clipped {clipped} of its {finite} finite steps")
    elif name != "none":
        text += f", clipped {point.clipped_before[name]} of the {diverged + 1} steps up to it"
    return text


def clip_summary(point, lr: float) -> str:
    """The clip explorer's line at one threshold: how each run went (`clip_outcome`), and
    the first gradient's norm and direction unclipped, by global norm and by value."""
    runs = "; ".join(f"{'no clipping' if name == 'none' else 'by ' + name}: "
                     f"{clip_outcome(point, name)}" for name in point.loss)
    norm, angle = point.first_norm, point.first_angle
    return (f"Threshold {point.threshold:.3g}: {runs}. First gradient (the step is {lr:g} "
            f"times it): norm {point.raw_norm:.3g} unclipped, {norm['global norm']:.3g} "
            f"by global norm ({angle['global norm']:.0f}° from the gradient: same direction), "
            f"{norm['value']:.3g} by value ({angle['value']:.0f}° from the gradient).")


# --------------------------------------------------------------------------- attribution

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
        r = float(rank_correlation(np.abs(getattr(maps, name)[0]), ig))
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


STEPS_ROUNDING = 1e-12  # relative to f(x) - f(x'): below it, float64 rounding decides


def completeness_summary(n: int, difference: float, methods, errors) -> str:
    """The completeness explorer's line at n steps: f(x) - f(baseline) and each rule's
    |completeness error|, errors: (rules,), "<floor" where float64 rounding decides."""
    floor = STEPS_ROUNDING * max(1.0, abs(difference))  # float64 rounding decides
    text = ", ".join(f"{m} {e:.1e}" if not e < floor else f"{m} <{floor:.0e}"
                     for m, e in zip(methods, errors, strict=True))
    return (f"{n} steps; f(x) - f(baseline) = {difference:.3f}; "
            f"|completeness error|: {text}.").replace("nan", "undefined")


# --------------------------------------------------------------------------- chapter 3

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


def isometry_summary(activation: str, depth: int, spectra: dict) -> str:
    """The isometry explorer's line: per init, the largest and smallest singular value at
    this depth and their ratio; spectra: {init: (width,) singular values, largest first}."""
    parts = [f"{init}: largest {values[0]:.3g}, smallest {values[-1]:.2g}, "
             f"largest/smallest {values[0] / values[-1]:.2g}" for init, values in spectra.items()]
    return f"{activation}, depth {depth}: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- chapter 4


def steps_summary(dtype: str, eps: float, error: float, best_eps: float, best_error: float,
                  good: float) -> str:
    """The step-size explorer's line: the error at eps, which error rules there (eps
    against the best step best_eps), the best step, and the 'good' band `good`."""
    if eps < best_eps:
        regime = "round-off rules (smaller steps make it worse)"
    elif eps > best_eps:
        regime = "truncation rules (it falls like eps^2 as eps shrinks)"
    else:
        regime = "the best step"
    return (f"{dtype}, eps = {eps:.0e}: relative error {error:.1e}, {regime}. Best: eps = "
            f"{best_eps:.0e} with {best_error:.1e}; a check is 'good' below {good:.0e}.")
