"""Claims of a chapter's prose, checked by the cell that computes them.

The text of a chapter says things a computation could contradict: "the signal shrinks
at every layer", "at most 1/4", "agrees least with occlusion". The cell that computes
the numbers states each such claim with `claim`, which prints it next to what was
measured and raises `ClaimFailed` when it is false. Run the chapter with other
settings, library versions or on another machine: a claim that stops holding stops the
notebook (and fails its nbval test) instead of leaving a wrong sentence in the text.

>>> claim("the gradient shrinks at every layer", bool(np.all(np.diff(norms) < 0)),
...       f"ratio first/last {norms[0] / norms[-1]:.0e}")
✓ the gradient shrinks at every layer (ratio first/last 1e-05)
"""

import numpy as np


class ClaimFailed(AssertionError):
    """A sentence of the prose that the computation just contradicted."""


def claim(statement: str, holds, measured: str = "") -> None:
    """Print "✓ statement (measured)" when `holds` is true; raise ClaimFailed otherwise.

    statement: the claim in the words of the text. holds: one truth value (a bool or a
    NumPy/JAX scalar bool; reduce arrays with np.all / np.any first). measured: the
    value(s) behind it, printed with only the digits the computation resolves.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be the claim in words, got {statement!r}")
    if np.ndim(holds) != 0:
        raise ValueError(f"holds must be one truth value, got an array of shape "
                         f"{np.shape(holds)}; reduce it with np.all(...) or np.any(...)")
    detail = f" ({measured})" if measured else ""
    if not bool(holds):
        raise ClaimFailed(f"✗ the text claims that {statement}, but the computation "
                          f"says otherwise{detail}")
    print(f"✓ {statement}{detail}")
