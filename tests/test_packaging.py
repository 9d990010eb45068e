"""The four places that name gradviz's dependencies agree, and the setup files stay safe.

pyproject.toml names the packages (loose bounds); constraints.txt pins every package of
the dev environment exactly; environment.yml (conda) and binder/requirements.txt (Binder)
repeat the runtime packages at those exact pins. Committed notebook outputs are only
reproducible against those versions, so a drift between the files fails here.
"""

import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def normalise(name: str) -> str:
    """Package name as pip compares them: lowercase, runs of -_. as one '-'."""
    return canonicalize_name(name)


def requirement_lines(text: str) -> list[str]:
    """Non-empty lines of a requirements file, with comments removed."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def exact_pins(lines: list[str], source: str) -> dict[str, str]:
    """{normalised name: version} from 'name==version' lines; anything else fails."""
    pins: dict[str, str] = {}
    for line in lines:
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{source}: {line!r} is not an exact 'name==version' pin"
        )
        name = normalise(requirement.name)
        assert name not in pins, f"{source}: {name} is pinned twice"
        pins[name] = specifiers[0].version
    return pins


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pyproject_names(requirements: list[str]) -> set[str]:
    return {normalise(Requirement(line).name) for line in requirements}


def runtime_names() -> set[str]:
    return pyproject_names(pyproject()["project"]["dependencies"])


def dev_names() -> set[str]:
    return pyproject_names(pyproject()["project"]["optional-dependencies"]["dev"])


def constraints() -> dict[str, str]:
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    return exact_pins(requirement_lines(text), "constraints.txt")


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def environment_pip_lines() -> list[str]:
    pip_sections = [
        dep["pip"] for dep in environment_yml()["dependencies"] if isinstance(dep, dict)
    ]
    assert len(pip_sections) == 1, "environment.yml needs exactly one 'pip:' list"
    return [str(line).strip() for line in pip_sections[0]]


def environment_pins() -> dict[str, str]:
    lines = [line for line in environment_pip_lines() if not line.startswith("-")]
    return exact_pins(lines, "environment.yml")


def binder_requirement_lines() -> list[str]:
    text = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")
    return requirement_lines(text)


def binder_pins() -> dict[str, str]:
    lines = [line for line in binder_requirement_lines() if not line.startswith("-")]
    return exact_pins(lines, "binder/requirements.txt")


def make_recipe(target: str) -> str:
    """The recipe lines (tab-indented) of one rule in the Makefile, joined."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}\s*:", line)]
    assert len(starts) == 1, f"Makefile should have exactly one '{target}:' rule"
    recipe = []
    for line in lines[starts[0] + 1 :]:
        if re.match(r"(ifn?eq|ifn?def|else|endif)\b", line):  # make conditionals
            continue
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    assert recipe, f"Makefile rule '{target}' has no recipe"
    return "\n".join(recipe)


# --- dependency lists agree ---------------------------------------------------------


def test_runtime_dependency_names_agree():
    expected = runtime_names()
    assert set(environment_pins()) == expected, "environment.yml vs pyproject.toml"
    assert set(binder_pins()) == expected, "binder/requirements.txt vs pyproject.toml"


@pytest.mark.parametrize("source", ["environment.yml", "binder/requirements.txt"])
def test_pins_equal_constraints(source):
    pins = environment_pins() if source == "environment.yml" else binder_pins()
    locked = constraints()
    wrong = {
        name: (version, locked.get(name))
        for name, version in pins.items()
        if locked.get(name) != version
    }
    assert not wrong, f"{source} pins differ from constraints.txt (pin, lock): {wrong}"


def test_every_pyproject_dependency_is_locked():
    missing = (runtime_names() | dev_names()) - set(constraints())
    assert not missing, f"in pyproject.toml but not in constraints.txt: {sorted(missing)}"


def test_constraints_do_not_pin_gradviz_itself():
    assert "gradviz" not in constraints()


# --- conda and Binder ------------------------------------------------------------------


def test_environment_yml_builds_gradviz_on_python_311():
    env = environment_yml()
    assert env["name"] == "gradviz"
    assert env["channels"] == ["conda-forge"]
    conda_packages = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    assert "python=3.11" in conda_packages
    assert "pip" in conda_packages
    assert "-e ." in environment_pip_lines(), "environment.yml must install gradviz (-e .)"


def test_binder_runtime_pins_python_311():
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    assert runtime == "python-3.11"


def test_binder_requirements_are_plain_pins():
    # repo2docker installs binder/requirements.txt before copying the repository in,
    # unless a line refers to a local file (-r, -c, -e .); keep it to plain pins.
    options = [line for line in binder_requirement_lines() if line.startswith("-")]
    assert not options, f"binder/requirements.txt should hold plain pins only: {options}"


def test_binder_postbuild_installs_gradviz_and_stops_on_errors():
    post_build = ROOT / "binder" / "postBuild"
    mode = post_build.stat().st_mode
    assert mode & stat.S_IXUSR and os.access(post_build, os.X_OK), "postBuild not executable"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash"), "postBuild needs a bash shebang"
    assert re.search(r"^\s*set -[a-z]*e", text, re.MULTILINE), "postBuild lacks 'set -e'"
    assert re.search(r"pip install .*--no-deps.* -e \.", text), "postBuild must install gradviz"


# --- README, Makefile, CI ------------------------------------------------------------------


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme
    assert "make test" in readme


def test_make_lab_keeps_jupyter_private():
    recipe = make_recipe("lab")
    assert "jupyter lab notebooks/" in recipe
    forbidden = [
        r"--ip[= ]+['\"]?0\.0\.0\.0",
        r"--ip[= ]+['\"]?\*",
        r"--allow-root",
        r"token\s*=\s*(''|\"\"|\s|$)",
        r"--no-browser-auth|disable_check_xsrf|--ServerApp\.password\s*=\s*(''|\"\")",
    ]
    for pattern in forbidden:
        assert not re.search(pattern, recipe, re.MULTILINE), f"`make lab` uses {pattern}"


def make_dry_run(target: str, *variables: str) -> list[str]:
    """The commands `make -n target` would run (variables expanded), one per line."""
    result = subprocess.run(["make", "-n", "--no-print-directory", target, *variables],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_make_test_runs_everything_and_cannot_be_silenced():
    recipe = make_recipe("test")
    assert "ruff check ." in recipe
    assert "--nbval-lax" not in recipe, "notebook outputs are compared strictly"
    for line in recipe.splitlines():
        assert not line.startswith(("-", "@-")), f"errors ignored in `make test`: {line}"
        assert "|| true" not in line and "|| :" not in line, f"failure masked: {line}"
    commands = make_dry_run("test")
    runs = [c for c in commands if "-m pytest" in c]
    assert len(runs) == 1, runs  # one pass: unit tests, browser test and nbval in parallel
    run = runs[0]
    assert "JAX_PLATFORMS=cpu" in run and " tests notebooks " in run
    assert "--dist loadfile" in run, "a notebook's cells stay together"
    assert "--no-loadscope-reorder" in run  # files start as tests/conftest.py orders them
    for argument in ("--nbval ", "--nbval-sanitize-with tests/nbval-sanitize.cfg"):
        assert argument in run
    # nbval compares outputs committed from an AVX-512 machine with a run whose XLA code is
    # limited to AVX: a result that changes between CPUs fails
    assert "--xla_cpu_max_isa=AVX" in run
    native = [c for c in make_dry_run("test", "NBVAL_ISA=") if "-m pytest" in c]
    assert len(native) == 1 and "xla_cpu_max_isa" not in native[0]
    # compiled programs kept on disk, each instruction set in its own folder
    caches = [re.search(r"JAX_COMPILATION_CACHE_DIR=(\S+)", r)[1] for r in (run, native[0])]
    assert caches[0].endswith("/AVX") and caches[1].endswith("/native"), caches
    runs = [run, native[0]]
    assert all("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0" in run for run in runs)


def test_make_lab_passes_extra_arguments_and_installs_the_quiet_settings():
    lab = [c for c in make_dry_run("lab", "LAB_ARGS=--allow-root --no-browser")
           if "jupyter lab" in c]
    assert lab and lab[-1].endswith("--ServerApp.ip=127.0.0.1 --allow-root --no-browser"), lab
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab LAB_ARGS=--allow-root" in readme
    assert "cp binder/overrides.json" in (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "overrides.json" in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")


def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run not executable"
    text = ci.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test$", text, re.MULTILINE)
