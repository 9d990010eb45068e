"""The machinery of checked exercises: an `Exercise` knows its question, its hint, how to
compute the true answer live, and which answers to accept; `judge` turns an answer into
`Feedback`. The chapters' lists are gathered into one registry by `registry`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass


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


def registry(*chapters: Iterable[Exercise]) -> dict[str, Exercise]:
    """name -> Exercise for every exercise of the chapters, in their order; names are unique."""
    exercises: dict[str, Exercise] = {}
    for chapter in chapters:
        for exercise in chapter:
            if exercise.name in exercises:
                raise ValueError(f"two exercises are called {exercise.name!r}")
            exercises[exercise.name] = exercise
    return exercises


def find(exercises: dict[str, Exercise], name: str) -> Exercise:
    """The exercise called `name`; ValueError listing the names if there is none."""
    if name not in exercises:
        raise ValueError(f"unknown exercise {name!r}; expected one of: {', '.join(exercises)}")
    return exercises[name]


def judge(exercise: Exercise, answer) -> Feedback:
    """Compare `answer` with the exercise's answer, computed now. The message never contains
    the solution of a wrong answer."""
    if answer is None or answer is ...:
        return Feedback(False, f"No answer yet. {exercise.question}\nHint: {exercise.hint}")
    truth = exercise.truth()
    try:
        right = bool(exercise.accepts(answer, truth))
    except (TypeError, ValueError):
        return Feedback(False, f"Could not read the answer {answer!r}. {exercise.question}")
    if right:
        return Feedback(True, f"Right: {exercise.because(truth)}")
    return Feedback(False, f"Not quite. Hint: {exercise.hint}")
