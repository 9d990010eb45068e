"""The teacher's solutions (notebooks/solutions/): one notebook per chapter with exercises,
solving and checking every exercise of that chapter; the chapters never use them; and every
coding exercise's checker is tested against at least two typical wrong answers."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

from gradviz import exercises
from gradviz.exercises.base import CodeExercise

ROOT = Path(__file__).parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = ROOT / "notebooks" / "solutions"


def chapter_exercises(chapter: Path) -> list[str]:
    """The exercises a chapter checks: the names in its gv.exercises.check(...) calls."""
    return re.findall(r'exercises\.check\(\s*\\?["\'](\w+)', chapter.read_text())


def code_of(notebook: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells
                     if c.cell_type == "code")


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if chapter_exercises(c)],
                         ids=lambda p: p.stem)
def test_each_chapter_has_solutions_that_check_every_exercise(chapter):
    solutions = SOLUTIONS / f"{chapter.stem}_solutions.ipynb"
    assert solutions.is_file(), f"no teacher's solutions for {chapter.name}"
    solved = set(re.findall(r'exercises\.check\(\s*["\'](\w+)', code_of(solutions)))
    assert set(chapter_exercises(chapter)) <= solved
    outputs = [o for c in nbformat.read(solutions, as_version=4).cells
               if c.cell_type == "code" for o in c.get("outputs", [])]
    verdicts = [o["data"]["text/plain"] for o in outputs if o.get("output_type") ==
                "execute_result" and "text/plain" in o.get("data", {})]
    assert sum(v.startswith("Right") for v in verdicts) >= len(set(chapter_exercises(chapter)))
    assert not [v for v in verdicts if v.startswith(("Not quite", "Not attempted", "On input"))]


def test_every_exercise_is_posed_in_a_chapter_and_coded_ones_as_stubs():
    posed = {name for chapter in CHAPTERS for name in chapter_exercises(chapter)}
    assert posed == set(exercises.EXERCISES)
    for chapter in CHAPTERS:
        for cell in nbformat.read(chapter, as_version=4).cells:
            for output in cell.get("outputs", []):
                text = output.get("data", {}).get("text/plain", "")
                assert not text.startswith("Right"), f"{chapter.name} shows a solved exercise"


def test_the_chapters_never_use_the_solutions():
    for chapter in CHAPTERS:
        assert "solutions" not in code_of(chapter), chapter.name


def test_the_readme_points_teachers_to_the_solutions():
    readme = (ROOT / "README.md").read_text()
    assert "notebooks/solutions" in readme


def wrong_answers() -> dict:
    """WRONG_ANSWERS of every tests/test_code_exercises_*.py: name -> [(function, message)]."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("test_code_exercises_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(module.WRONG_ANSWERS)
    return found


def test_every_coding_exercise_is_tested_with_two_wrong_answers_or_more():
    coded = {n for n, e in exercises.EXERCISES.items() if isinstance(e, CodeExercise)}
    chapters = {re.match(r"(ch\d+b?)_", n).group(1) for n in exercises.EXERCISES}
    for chapter in chapters:  # at least two coding exercises per chapter
        assert sum(n.startswith(chapter + "_") for n in coded) >= 2, chapter
    tested = wrong_answers()
    assert coded <= set(tested), coded - set(tested)
    assert all(len(tested[name]) >= 2 for name in coded)
