"""The error model of central differences, and the verdict it gives each coordinate.

A gradient a is compared with the numerical derivative

    numerical_i = (f(p + eps e_i) - f(p - eps e_i)) / (2 eps).

For a correct gradient a of a smooth f, |a - numerical| is made of two parts:

- truncation, eps^2 f'''/6: the Taylor terms the difference leaves out;
- round-off, about noise = NOISE_ULPS machine_eps (|f(p + eps e_i)| + |f(p - eps e_i)|)
  / (2 eps): each value of f carries a rounding error of a few machine_eps |f|, and the
  difference divides it by 2 eps.

The verdict of one coordinate follows from that error model (`judge_coordinates`):

1. unresolved: max(|a|, |numerical|) < RESOLVE x noise. Both values are below what the
   difference can resolve, so their relative error cannot be measured: the coordinate
   is neither passed nor failed. (Finite differences cannot certify a vanished gradient;
   `check_layers` can, one layer at a time.)
2. agrees: |a - numerical| <= max(good x scale, noise), with scale = max(|a|, |numerical|)
   and good the lowest band below: the error is within the "good" band, or within
   round-off.
3. truncation: otherwise, where a agrees in the same sense with Richardson's
   extrapolation (4 n(eps) - n(2 eps)) / 3 from a second step 2 eps, whose truncation
   is O(eps^4): the error is the step's eps^2 term. A smaller step removes it.
4. kinked: otherwise, where min(|a - d+|, |a - d-|) <= |a - numerical| / 4 with the
   one-sided slopes d+ = (f(p + eps e_i) - f(p)) / eps, d- = (f(p) - f(p - eps e_i)) / eps:
   the step crosses a ReLU, max or abs kink on one side, and a correct gradient matches
   the slope of the other side. (For a smooth f, d+- = a +- eps f''/2, much further from
   a than the central difference; a bug moves a away from all of them alike.)
5. otherwise the error is unexplained, and bands judge its size,
   unexplained = (|a - numerical| - noise) / scale:

    float64: good < 1e-7 <= suspicious < 1e-2 <= wrong
    float32: good < 1e-3 <= suspicious < 1e-1 <= wrong

   (CS231n's rules of thumb also allow errors up to 1e-4 "where there are kinks"; BANDS
   keeps that limit for `verdict(..., kinked=True)`. The check does not use it: a kinked
   coordinate (step 4) is excused on its own, and a kink elsewhere in the leaf excuses
   nothing else.)

A leaf (a row of the report) gets its verdict from `leaf_verdict` (`summarise` adds the
reason): "unresolved" when none of its checked coordinates is resolved, else the band of
its largest unexplained error over the resolved coordinates that are not kinked
("acceptable with kinks" or "acceptable with truncation" when that error is good and
some coordinates are kinked or truncation).
"""

from typing import NamedTuple

import numpy as np

from gradviz.validate import check_choice

DTYPES: tuple[str, ...] = ("float64", "float32")
VERDICTS: tuple[str, ...] = ("good", "acceptable with kinks", "acceptable with truncation",
                             "unresolved", "suspicious", "wrong")
PASSING: tuple[str, ...] = ("good", "acceptable with kinks", "acceptable with truncation")
FAILING: tuple[str, ...] = ("suspicious", "wrong")
BANDS = {  # upper limits of: good, CS231n's "with kinks" (see `verdict`), suspicious
    "float64": (1e-7, 1e-4, 1e-2),
    "float32": (1e-3, 1e-2, 1e-1),
}
DEFAULT_EPS = {"float64": 1e-5, "float32": 1e-2}
MACHINE_EPS = {name: float(np.finfo(name).eps) for name in DTYPES}
NOISE_ULPS = 4  # round-off of f(p +- eps v), in machine_eps |f|: a safety margin (measured: <= 1)
RESOLVE = 10  # a coordinate is resolved when max(|a|, |n|) >= RESOLVE x noise
KINK_AGREEMENT = 0.25  # a kink: a is 4x closer to a one-sided slope than to the central one


def relative_error(analytic, numerical, floor=0.0) -> np.ndarray:
    """|a - n| / max(|a|, |n|, floor), elementwise, in float64; 0 where a = n = 0.

    With floor = 0 (the default) it is symmetric in its arguments and unchanged when
    both are scaled by the same factor.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return np.abs(a - n) / np.where(scale > 0, scale, 1.0)


def verdict(error: float, kinked: bool = False, dtype: str = "float64") -> str:
    """The band of an (unexplained) relative error: "good", "suspicious" or "wrong"; with
    kinked=True, CS231n's rule of thumb for a function with kinks, "acceptable with kinks"
    below BANDS[dtype][1]. (`check_gradients` calls it with kinked=False: it excuses each
    kinked coordinate on its own instead.)"""
    good, with_kinks, suspicious = BANDS[DTYPES[check_choice("dtype", dtype, DTYPES)]]
    if error < good:
        return "good"
    if error < with_kinks and kinked:
        return "acceptable with kinks"
    return "suspicious" if error < suspicious else "wrong"


def leaf_verdict(unexplained: float, n_resolved: int, n_kinked: int = 0,
                 n_truncation: int = 0, dtype: str = "float64") -> str:
    """The verdict of a row of a report: "unresolved" when no coordinate is resolved, else
    the band of its largest unexplained error (`verdict`), where "good" becomes
    "acceptable with kinks" (or "... with truncation") when some coordinates were excused
    as kinked (or as the step's truncation)."""
    if n_resolved == 0:
        return "unresolved"
    band = verdict(unexplained, False, dtype)  # a kink excuses only its own coordinate
    if band == "good" and n_kinked:
        return "acceptable with kinks"
    if band == "good" and n_truncation:
        return "acceptable with truncation"
    return band


class CoordinateChecks(NamedTuple):
    """The checked coordinates of one leaf (or the random directions); each field has
    shape (n_checked,)."""

    index: np.ndarray  # flat index into the leaf (np.unravel_index gives the position)
    analytic: np.ndarray
    numerical: np.ndarray  # central difference at eps
    forward: np.ndarray  # one-sided (f(p + eps e_i) - f(p)) / eps
    backward: np.ndarray  # one-sided (f(p) - f(p - eps e_i)) / eps
    noise: np.ndarray  # the round-off expected in `numerical`
    extrapolated: np.ndarray  # Richardson (4 n(eps) - n(2 eps)) / 3; NaN where not needed
    error: np.ndarray  # |a - n| / max(|a|, |n|): the relative error
    unexplained: np.ndarray  # the part of `error` no round-off, truncation or kink explains
    resolved: np.ndarray  # bool: max(|a|, |n|) >= RESOLVE x noise
    truncation: np.ndarray  # bool: the error is the step's truncation (agrees with Richardson)
    kinked: np.ndarray  # bool: the step crosses a kink


def round_off(plus, minus, eps, dtype: str) -> np.ndarray:
    """The round-off expected in the central difference (f(p + eps v) - f(p - eps v)) / 2 eps;
    plus, minus: (k,) values of f."""
    return NOISE_ULPS * MACHINE_EPS[dtype] * (np.abs(plus) + np.abs(minus)) / (2 * eps)


def within(analytic, numerical, noise, good) -> np.ndarray:
    """|a - n| <= max(good x max(|a|, |n|), noise): inside the good band or the round-off."""
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    return np.abs(analytic - numerical) <= np.maximum(good * scale, noise)


def judge_coordinates(analytic, plus, minus, center, eps, dtype, analytic_dtype,
                      second_step) -> dict:
    """The error model applied to each perturbation (steps 1-5 of the module docstring).

    analytic, plus = f(p + eps v), minus = f(p - eps v): (k,); center: f(p).
    second_step(which) evaluates f at p +- 2 eps v for the perturbations `which` (a bool
    mask) and returns (plus2, minus2): it is needed only where the first step does not
    already agree. Returns a dict of the CoordinateChecks fields (all but index), each (k,).
    """
    good = BANDS[analytic_dtype][0]
    numerical = (plus - minus) / (2 * eps)
    forward, backward = (plus - center) / eps, (center - minus) / eps
    noise = round_off(plus, minus, eps, dtype)
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    resolved = scale >= RESOLVE * noise
    agrees = within(analytic, numerical, noise, good)
    extrapolated = np.full_like(numerical, np.nan)
    again = resolved & ~agrees
    if again.any():
        plus2, minus2 = second_step(again)
        coarse = (plus2 - minus2) / (4 * eps)
        extrapolated[again] = (4 * numerical[again] - coarse) / 3
    noise_extrapolated = 1.5 * noise  # (4 noise + noise / 2) / 3: the noise at 2 eps is half
    truncation = np.zeros_like(again)
    truncation[again] = within(analytic[again], extrapolated[again],
                               noise_extrapolated[again], good)
    miss = np.abs(analytic - numerical) - noise  # what round-off leaves unexplained
    miss[again] = np.minimum(miss[again], np.abs(analytic - extrapolated)[again]
                             - noise_extrapolated[again])
    unexplained = np.where(agrees | truncation, 0.0,
                           np.maximum(miss, 0.0) / np.where(scale > 0, scale, 1.0))
    one_sided = np.minimum(np.abs(analytic - forward), np.abs(analytic - backward))
    kinked = (resolved & (unexplained >= good)
              & (one_sided <= KINK_AGREEMENT * np.abs(analytic - numerical)))
    return {"analytic": analytic, "numerical": numerical, "forward": forward,
            "backward": backward, "noise": noise, "extrapolated": extrapolated,
            "error": relative_error(analytic, numerical), "unexplained": unexplained,
            "resolved": resolved, "truncation": truncation, "kinked": kinked}


class Summary(NamedTuple):
    """What a row of the report says about its checked coordinates."""

    verdict: str  # see `leaf_verdict`
    reason: str  # one line: why the verdict, and what to do ("" for a plain "good")
    worst: int  # position in the checks of the largest unexplained (else relative) error
    max_error: float  # largest relative error at resolved coordinates that are not kinked
    unexplained: float  # largest unexplained relative error there: what the bands judge


def summarise(checks: CoordinateChecks, dtype: str) -> Summary:
    """The verdict of a leaf or of the random directions, with its reason."""
    resolved, kinked = checks.resolved, checks.kinked
    truncated = checks.truncation & resolved
    n, n_resolved = len(resolved), int(resolved.sum())
    if n_resolved == 0:
        top = float(np.max(np.maximum(np.abs(checks.analytic), np.abs(checks.numerical))))
        floor = float(RESOLVE * np.min(checks.noise))
        return Summary(leaf_verdict(0.0, 0),
                       f"|analytic| and |numerical| <= {top:.1e}, below {RESOLVE} x "
                       f"round-off ({floor:.1e}) in all {n} checked: finite differences "
                       "cannot certify a gradient this small; check it layer by layer "
                       "(check_layers)", int(np.argmax(checks.error)), 0.0, 0.0)
    counted = resolved & ~kinked
    if counted.any():
        pick = np.where(counted, checks.unexplained, -1.0)
        if pick.max() <= 0:
            pick = np.where(counted, checks.error, -1.0)
        worst = int(np.argmax(pick))
        max_error = float(checks.error[counted].max())
        unexplained = float(checks.unexplained[counted].max())
    else:
        worst, max_error, unexplained = int(np.argmax(checks.error)), 0.0, 0.0
    band = leaf_verdict(unexplained, n_resolved, int(kinked.sum()), int(truncated.sum()),
                        dtype)
    parts = []
    if band in FAILING:
        parts.append(f"unexplained error {unexplained:.1e}: neither round-off, truncation "
                     "nor a kink accounts for it")
    if kinked.any():
        parts.append(f"{int(kinked.sum())} where the step crosses a kink (the analytic "
                     "value matches a one-sided slope)")
    if truncated.any():
        parts.append(f"{int(truncated.sum())} whose error (up to "
                     f"{float(checks.error[truncated].max()):.1e}) is the step's truncation: "
                     "they agree with the extrapolation from eps and 2 eps; a smaller step "
                     "removes it")
    if n_resolved < n:
        parts.append(f"{n - n_resolved} of {n} unresolved (below {RESOLVE} x round-off: "
                     "judged neither way)")
    return Summary(band, "; ".join(parts), worst, max_error, unexplained)
