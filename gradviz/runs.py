"""Reading training runs: where a run diverged, and several runs (seeds) summarised as
mean, spread and range, or in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # for annotations only: gradviz.train imports this module
    from gradviz.train import TrainLog


def divergence_step(loss) -> int | None | np.ndarray:
    """The step (0-based) from which a run's loss stays above its starting value or is
    inf/NaN until the end: where it diverged. None (or -1 in the array form) for a run
    whose last loss is finite and at most its first.

    loss: (steps,) for one run, an int or None; (runs, steps), an int array (-1: did not
    diverge).
    """
    loss = np.asarray(loss, dtype=np.float64)
    above = ~(loss <= loss[..., :1])  # NaN compares False: inf/NaN counts as above
    # the last step that is not above the start, + 1; 0 when every step is above it
    steps = loss.shape[-1]
    last_ok = steps - 1 - np.argmax(~above[..., ::-1], axis=-1)
    last_ok = np.where(np.any(~above, axis=-1), last_ok, -1)
    step = np.where(above[..., -1], last_ok + 1, -1)
    if step.ndim == 0:
        return None if step < 0 else int(step)
    return step


class Spread(NamedTuple):
    """Mean and spread over runs (axis 0) of a recorded quantity; each field has the
    shape of one run's values, e.g. (steps,)."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray  # the smallest value over the runs
    high: np.ndarray  # the largest


def across_runs(values) -> Spread:
    """Mean, standard deviation, min and max over the runs of values: (runs, ...).

    A run that overflowed (inf/NaN) makes the mean NaN at those steps: it is not hidden.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 1 or values.shape[0] < 1:
        raise ValueError(f"values must have a leading runs axis, got shape {values.shape}")
    return Spread(values.mean(0), values.std(0), values.min(0), values.max(0))


def describe_runs(log: TrainLog) -> str:
    """One line on a log of several runs (leading runs axis): the last step's training
    loss and accuracy (test accuracy when recorded), as mean ± standard deviation over
    the runs with the range, and how many runs hit inf/NaN."""
    parts = []
    fields = [("training loss", log.loss)]
    if log.test_loss is not None:
        fields.append(("test loss", log.test_loss))
    if log.test_accuracy is not None:
        fields.append(("test accuracy", log.test_accuracy))
    elif log.accuracy is not None:
        fields.append(("training accuracy", log.accuracy))
    for name, values in fields:
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError("describe_runs needs a log of several runs (from jax.vmap), "
                             f"got {name} of shape {values.shape}")
        last = across_runs(values[:, -1])
        parts.append(f"{name} {last.mean:.3g} ± {last.std:.2g} ({last.low:.3g} to {last.high:.3g})")
    overflowed = sum(step is not None for step in log.first_nonfinite_step)
    runs = np.shape(log.loss)[0]
    tail = f"; {overflowed} of {runs} runs hit inf/NaN" if overflowed else ""
    return ", ".join(parts) + tail
