"""Checked exercises: `check(name, answer)` compares an answer with the truth, computed
live by gradviz (never stored), and says what is right, or gives a hint.

In a notebook: `gv.exercises.check("ch1_vanishing_depth", 17)` for a number or a word (the
message never contains the solution of a wrong answer), and
`gv.exercises.check("ch1_sigmoid_derivative", sigmoid_derivative)` for a function the
learner completed (it is run on fixed random inputs next to the reference; the message
names the first input it gets wrong, expected and got). `hint(name)` gives the hint.

`base.py` holds the machinery (Feedback, Exercise, judge); each chapter's module
(`ch1.py`, `ch2.py`, `ch3.py`, `ch3b.py`, `ch4.py`, `ch5.py`) defines its exercises in
one list, EXERCISES, next to the functions that compute their answers.
"""

from gradviz.exercises import ch1, ch2, ch3, ch3b, ch4, ch5
from gradviz.exercises.base import (
    CodeExercise,
    Exercise,
    Feedback,
    find,
    judge,
    judge_code,
    registry,
)
from gradviz.exercises.ch3b import LIVE_LEARNING_RATES

EXERCISES: dict[str, Exercise | CodeExercise] = registry(
    ch1.EXERCISES, ch2.EXERCISES, ch3.EXERCISES, ch3b.EXERCISES, ch4.EXERCISES, ch5.EXERCISES)


def check(name: str, answer) -> Feedback:
    """Compare `answer` (a value, or a function for a coding exercise) with exercise
    `name`'s answer, computed now."""
    exercise = find(EXERCISES, name)
    if isinstance(exercise, CodeExercise):
        return judge_code(exercise, answer)
    return judge(exercise, answer)


def hint(name: str) -> str:
    """The hint of exercise `name`."""
    return find(EXERCISES, name).hint


__all__ = ["EXERCISES", "LIVE_LEARNING_RATES", "CodeExercise", "Exercise", "Feedback", "check",
           "hint"]
