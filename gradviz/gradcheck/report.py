"""What a gradient check returns: one row per parameter leaf, and the report's text view.

`check_gradients` returns a `GradCheckReport`, `check_layers` a `LayerwiseReport`; their
repr is a table with one `LeafCheck` per row. A report passes only when no row is
unresolved and every resolved coordinate agreed.
"""

from typing import NamedTuple

import numpy as np

from gradviz.gradcheck.errors import FAILING, PASSING, CoordinateChecks, summarise


class LeafCheck(NamedTuple):
    """One row of the report: one parameter leaf."""

    path: str  # e.g. "W1", "layers.0.w" or "layer 3 / W"
    shape: tuple
    n_checked: int
    n_total: int
    n_resolved: int  # checked coordinates above the round-off floor
    max_error: float  # largest relative error at resolved coordinates that are not kinked
    unexplained: float  # largest unexplained relative error there: what the bands judge
    median_error: float  # over the resolved coordinates (0 if none)
    worst_index: tuple  # position of the largest unexplained (else relative) error
    analytic: float  # at worst_index
    numerical: float
    n_kinked: int
    n_truncation: int  # coordinates whose error is explained by truncation
    kink_error: float  # largest relative error at kinked coordinates (0 if none)
    verdict: str
    reason: str  # one line: why the verdict, and what to do ("" for a plain "good")

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING


def leaf_row(path: str, shape: tuple, checks: CoordinateChecks, dtype: str) -> LeafCheck:
    """The row of a leaf of shape `shape` from its checked coordinates."""
    summary = summarise(checks, dtype)
    position = np.unravel_index(int(checks.index[summary.worst]), shape) if shape else ()
    resolved, kinked = checks.resolved, checks.kinked
    median = float(np.median(checks.error[resolved])) if resolved.any() else 0.0
    return LeafCheck(path, tuple(shape), len(checks.index),
                     int(np.prod(shape, dtype=np.int64)), int(resolved.sum()),
                     summary.max_error, summary.unexplained, median,
                     tuple(int(i) for i in position), float(checks.analytic[summary.worst]),
                     float(checks.numerical[summary.worst]), int(kinked.sum()),
                     int((checks.truncation & resolved).sum()),
                     float(checks.error[kinked].max()) if kinked.any() else 0.0,
                     summary.verdict, summary.reason)


class DirectionalCheck(NamedTuple):
    """Directional derivatives along random unit directions v (as in
    jax.test_util.check_grads): <grads, v> against (f(p + eps v) - f(p - eps v)) / (2 eps),
    judged like the coordinates of a leaf."""

    checks: CoordinateChecks  # index: the direction's number
    max_error: float  # over resolved directions that are not kinked
    verdict: str

    @property
    def analytic(self) -> np.ndarray:
        return self.checks.analytic

    @property
    def error(self) -> np.ndarray:
        return self.checks.error


def directional_check(checks: CoordinateChecks, dtype: str) -> DirectionalCheck:
    summary = summarise(checks, dtype)
    return DirectionalCheck(checks, summary.max_error, summary.verdict)


# --------------------------------------------------------------------------- text view


def _aligned(table: list[tuple]) -> list[str]:
    """Rows of cells (header first) as lines of left-aligned columns."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in table]


def table(rows) -> list[str]:
    """The rows of a report as aligned text lines (header first)."""
    columns = ("leaf", "shape", "checked", "resolved", "max error", "unexplained",
               "worst at", "analytic", "numerical", "kinks", "verdict")
    return _aligned([columns] + [
        (r.path, str(r.shape), f"{r.n_checked}/{r.n_total}", str(r.n_resolved),
         f"{r.max_error:.1e}", f"{r.unexplained:.1e}" if r.unexplained > 0 else "none",
         str(r.worst_index), f"{r.analytic:+.4e}", f"{r.numerical:+.4e}", str(r.n_kinked),
         r.verdict) for r in rows])


def supplied_table(rows) -> list[str]:
    """The supplied-gradient rows as aligned text lines: supplied against chain rule."""
    columns = ("leaf", "shape", "max error", "worst at", "supplied", "chain rule", "verdict")
    return _aligned([columns] + [
        (r.path, str(r.shape), f"{r.max_error:.1e}", str(r.worst_index),
         f"{r.analytic:+.4e}", f"{r.numerical:+.4e}", r.verdict) for r in rows])


def reasons(rows) -> list[str]:
    return [f"  {r.path}: {r.verdict}: {r.reason}" for r in rows if r.reason]


def overall_outcome(passed: bool, verdicts) -> str:
    """PASSED; FAILED where anything is suspicious or wrong; else UNRESOLVED (nothing
    failed, but something could not be judged)."""
    if passed:
        return "PASSED"
    return "FAILED" if any(v in FAILING for v in verdicts) else "UNRESOLVED"


def find_row(rows, path: str) -> LeafCheck:
    for row in rows:
        if row.path == path:
            return row
    raise ValueError(f"no leaf {path!r}; the leaves are: {', '.join(r.path for r in rows)}")


def worst_row(rows) -> LeafCheck:
    """The row that most needs attention: failed before unresolved before passed, then
    the largest unexplained and relative errors."""
    rank = {"wrong": 5, "suspicious": 4, "unresolved": 3}
    return max(rows, key=lambda r: (rank.get(r.verdict, 0), r.unexplained, r.max_error))


# --------------------------------------------------------------------------- reports


class GradCheckReport(NamedTuple):
    """The result of `check_gradients`; its repr is a table with one row per leaf."""

    passed: bool  # every leaf resolved and agreed, and so did the random directions
    rows: tuple  # LeafCheck per parameter leaf, in pytree order
    worst: LeafCheck  # the row that most needs attention (see worst_row)
    directional: DirectionalCheck
    dtype: str
    eps: float
    value: float  # f(params, *args)
    coordinates: dict  # path -> CoordinateChecks

    def row(self, path: str) -> LeafCheck:
        """The row of the leaf called `path` (e.g. "W1")."""
        return find_row(self.rows, path)

    @property
    def outcome(self) -> str:
        """"PASSED", "FAILED" (something suspicious or wrong) or "UNRESOLVED"."""
        return overall_outcome(self.passed, [r.verdict for r in self.rows]
                               + [self.directional.verdict])

    @property
    def leaf_paths(self) -> list[str]:
        return [row.path for row in self.rows]

    def __repr__(self) -> str:
        head = self.outcome + (
            f": gradient check in {self.dtype}, eps = {self.eps:.0e}, f = {self.value:.6g}")
        lines = [head] + table(self.rows)
        d = self.directional
        lines.append(f"{len(d.checks.error)} random directions: max error {d.max_error:.1e}, "
                     f"{int(d.checks.kinked.sum())} kinked: {d.verdict}")
        lines += reasons(self.rows)
        lines.append(f"worst leaf: {self.worst.path} ({self.worst.verdict})")
        return "\n".join(lines)


class LayerwiseReport(NamedTuple):
    """The result of `check_layers` / `check_mlp_layers`.

    rows: one LeafCheck per layer and leaf, e.g. "layer 3 / W", "layer 3 / input": each
    layer's vector-Jacobian product against central differences of <u, layer(...)>.
    supplied: one LeafCheck per layer parameter leaf: the supplied full gradient against
    the chain rule of those checked VJPs (empty when no gradient was supplied).
    """

    passed: bool  # every layer's VJP resolved and agreed, and so did the supplied gradient
    rows: tuple
    supplied: tuple
    worst: LeafCheck  # the row (of either kind) that most needs attention
    eps: float
    names: tuple  # the layers' names, in order

    def row(self, path: str) -> LeafCheck:
        """The row called `path`, e.g. "layer 1 / W" (a VJP row) or "supplied layer 1 / W"."""
        if path.startswith("supplied "):
            return find_row(self.supplied, path.removeprefix("supplied "))
        return find_row(self.rows, path)

    @property
    def outcome(self) -> str:
        """"PASSED", "FAILED" (something suspicious or wrong) or "UNRESOLVED"."""
        return overall_outcome(self.passed, [r.verdict for r in self.rows + self.supplied])

    @property
    def failing_layers(self) -> list[str]:
        """The names of the layers with a row (of either kind) that did not pass."""
        bad = {r.path.split(" / ")[0] for r in self.rows + self.supplied if not r.passed}
        return [name for name in self.names if name in bad]

    def __repr__(self) -> str:
        head = self.outcome + (
            f": layer-by-layer check in float64, eps = {self.eps:.0e}, {len(self.names)} "
            "layers, random unit-scale cotangents")
        lines = [head] + table(self.rows) + reasons(self.rows)
        if self.supplied:
            lines.append("the supplied gradient against the chain rule of the checked layers:")
            lines += supplied_table(self.supplied) + reasons(self.supplied)
        failing = self.failing_layers
        lines.append("failing layers: " + (", ".join(failing) if failing else "none"))
        return "\n".join(lines)


class StepSweep(NamedTuple):
    """Relative error of central differences for each step size: the U-curve.
    eps and error have shape (n_eps,)."""

    eps: np.ndarray
    error: np.ndarray  # largest over the random directions
    best_eps: float
    best_error: float
    dtype: str
