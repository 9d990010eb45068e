"""The machinery of checked exercises. An `Exercise` asks for a number or a word: it knows
its question, its hint, how to compute the true answer live, and which answers to accept;
`judge` turns an answer into `Feedback`. A `CodeExercise` asks for a function: `judge_code`
calls the learner's function and the reference on the same inputs (made with a fixed
seed) and says on which input they first disagree. The chapters' lists are gathered into
one registry by `registry`.
"""

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import jax
import numpy as np


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer; shows as its message in a notebook."""

    correct: bool
    message: str

    def __repr__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.correct


@dataclass(frozen=True)
class Exercise:
    name: str  # e.g. "ch1_vanishing_depth": what check(name, answer) is called with
    question: str
    hint: str
    truth: Callable[[], object]  # computes the reference answer
    accepts: Callable[[object, object], bool]  # (answer, truth) -> right?
    because: Callable[[object], str]  # why, shown with a right answer


@dataclass(frozen=True)
class CodeExercise:
    """Complete a function; it is checked against `reference` on every input of `cases()`.

    cases() returns a list of {argument name: value}, made with a fixed seed; the learner's
    function is called with the values in that order, the reference with the names. An
    output may be a number, an array or a tuple/dict of them: each leaf must have the
    reference's shape and agree within rtol/atol (np.allclose).
    """

    name: str
    task: str  # what the function must compute, e.g. "sigmoid_derivative(s) returns ..."
    hint: str
    reference: Callable
    cases: Callable[[], list[dict]]
    because: str  # what a right function shows, printed with "Right"
    rtol: float = 1e-5
    atol: float = 1e-8


def registry(*chapters: Iterable[Exercise | CodeExercise]) -> dict[str, Exercise | CodeExercise]:
    """name -> Exercise for every exercise of the chapters, in their order; names are unique."""
    exercises: dict[str, Exercise | CodeExercise] = {}
    for chapter in chapters:
        for exercise in chapter:
            if exercise.name in exercises:
                raise ValueError(f"two exercises are called {exercise.name!r}")
            exercises[exercise.name] = exercise
    return exercises


def find(exercises: dict, name: str) -> Exercise | CodeExercise:
    """The exercise called `name`; ValueError listing the names if there is none."""
    if name not in exercises:
        raise ValueError(f"unknown exercise {name!r}; expected one of: {', '.join(exercises)}")
    return exercises[name]


def _no_answer(name: str, question: str) -> Feedback:
    """Before the learner tries: the question again and how to ask for the hint (the hint
    itself waits, so that a saved notebook does not show it under every question)."""
    return Feedback(False, f"No answer yet. {question}\nFor a hint: gv.exercises.hint({name!r})")


def judge(exercise: Exercise, answer) -> Feedback:
    """Compare `answer` with the exercise's answer, computed now. The message never contains
    the solution of a wrong answer."""
    if answer is None or answer is ...:
        return _no_answer(exercise.name, exercise.question)
    truth = exercise.truth()
    try:
        right = bool(exercise.accepts(answer, truth))
    except (TypeError, ValueError):
        return Feedback(False, f"Could not read the answer {answer!r}. {exercise.question}")
    if right:
        return Feedback(True, f"Right: {exercise.because(truth)}")
    return Feedback(False, f"Not quite. Hint: {exercise.hint}")


def _form(value) -> str:
    """A few words for what `value` is: "a tuple of 2", "a dict with keys ['b', 'w']",
    "an array of shape (3,)", "a number", "None"."""
    if value is None:
        return "None"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    shape = np.shape(value)
    return f"an array of shape {shape}" if shape else "a number"


def _show(value, digits: int = 4) -> str:
    """An array or number with `digits` significant digits, long arrays shortened."""
    return np.array2string(np.asarray(value, dtype=np.float64), threshold=8, edgeitems=3,
                           separator=", ",
                           formatter={"float_kind": lambda v: f"{v:.{digits}g}"})


def _show_input(value) -> str:
    """An argument as a message shows it: numbers and short arrays by `_show`, a larger
    array by its shape, dicts and tuples part by part, anything else (a name, a function)
    by repr."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show_input(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_show_input(v) for v in value) + ")"
    if isinstance(value, int | float | np.number | np.ndarray | jax.Array) \
            and not isinstance(value, bool):
        return _show(value) if np.size(value) <= 12 else f"<array of shape {np.shape(value)}>"
    return repr(value)


def _like(got, expected):
    """`got` read as the reference's form where that is only a matter of container: a list
    where a tuple is expected, a list of numbers where an array is."""
    if isinstance(got, list) and isinstance(expected, tuple) and len(got) == len(expected):
        return tuple(_like(g, e) for g, e in zip(got, expected, strict=True))
    if isinstance(got, tuple) and isinstance(expected, tuple) and len(got) == len(expected):
        return tuple(_like(g, e) for g, e in zip(got, expected, strict=True))
    if (isinstance(got, list) and isinstance(expected, np.ndarray | jax.Array)
            and all(np.ndim(item) == 0 for item in got)):
        return np.asarray(got, dtype=np.float64)
    return got


def _difference(got, expected, rtol: float, atol: float) -> str | None:
    """Where `got` differs from `expected` (a sentence), or None where it agrees."""
    got = _like(got, expected)
    expected_leaves = jax.tree_util.tree_flatten_with_path(expected)[0]
    expected_tree = jax.tree.structure(expected)
    try:
        got_tree = jax.tree.structure(got)
        same_form = got_tree == expected_tree
    except TypeError:
        same_form = False
    if not same_form:
        return f"expected {_form(expected)}, got {_form(got)}"
    for (path, want), have in zip(expected_leaves, jax.tree.leaves(got), strict=True):
        where = f" in {jax.tree_util.keystr(path)}" if path else ""
        try:
            have = np.asarray(have, dtype=np.float64)
        except (TypeError, ValueError):
            return f"expected numbers{where}, got {have!r}"
        want = np.asarray(want, dtype=np.float64)
        if have.shape != want.shape:
            return f"expected shape {want.shape}{where}, got shape {have.shape}"
        if not np.allclose(have, want, rtol=rtol, atol=atol, equal_nan=True):
            # as many digits as it takes to see the difference (up to 12)
            digits = next((d for d in (4, 6, 8, 10) if _show(want, d) != _show(have, d)), 12)
            return f"expected{where} {_show(want, digits)}, got {_show(have, digits)}"
    return None


def judge_code(exercise: CodeExercise, function) -> Feedback:
    """Call `function` on each of the exercise's inputs and compare it with the reference.
    Each gets its own copy of the inputs (a function that changes them in place changes
    nothing for the other), and matrix products run at full float32 precision (not a GPU's
    TF32). An untouched stub (a body of `...`, `pass` or `raise NotImplementedError`) or a
    missing `return` is told so, not an error; a wrong function is told the first input it
    gets wrong, with what was expected and what it returned."""
    if function is None or function is ...:
        return _no_answer(exercise.name, exercise.task)
    if not callable(function):
        return Feedback(False, f"Expected a function, got {_form(function)}. {exercise.task}")
    ask = f"\nFor a hint: gv.exercises.hint({exercise.name!r})"
    cases = exercise.cases()
    for number, case in enumerate(cases):
        shown = ", ".join(f"{name}={_show_input(value)}" for name, value in case.items())
        with jax.default_matmul_precision("highest"):
            expected = exercise.reference(**copy.deepcopy(case))
            try:
                got = function(*copy.deepcopy(case).values())
            except NotImplementedError:
                got = None
            except Exception as error:  # the learner's bug, reported with its input
                return Feedback(False, f"On input {shown} your function raised "
                                       f"{type(error).__name__}: {error}{ask}")
        if got is None and number == 0:
            return Feedback(False, "Not attempted yet, or a `return` is missing: your "
                                   "function returned None. Complete it, then run this "
                                   f"cell again. {exercise.task}")
        problem = _difference(got, expected, exercise.rtol, exercise.atol)
        if problem:
            return Feedback(False, f"On input {shown}: {problem}.{ask}")
    return Feedback(True, f"Right on all {len(cases)} inputs: {exercise.because}")
