"""The package's layering rules, checked on its source: the core never imports the drawing
layers; no module imports another module's private (`_name`) names; no file is long."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradviz"
MAX_LINES = 400
FILES = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))


def test_core_imports_without_matplotlib_or_ipywidgets():
    code = (
        "import sys, gradviz, gradviz.exercises, gradviz.theory, gradviz.train, gradviz.live,"
        " gradviz.summaries, gradviz.experiments;"
        "bad = [m for m in ('matplotlib', 'ipywidgets', 'IPython') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- file length

# Files still over MAX_LINES: to be split by #13. Remove a file here once it is short.
LONG_FILES: set[str] = set()


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(
        strict=False, reason="issue #13 in progress: widgets/plots split pending"))
    if name in LONG_FILES else name for name in FILES])
def test_no_file_is_over_400_lines(name):
    lines = len((PACKAGE / name).read_text().splitlines())
    assert lines <= MAX_LINES, f"gradviz/{name} has {lines} lines (at most {MAX_LINES})"


# --------------------------------------------------------------------------- private names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(path: Path, source: str | None = None) -> set[tuple[str, str]]:
    """(module, name) for each `_name` this file (or `source`, as if it were this file)
    takes from another gradviz module: by `from gradviz.m import _name`, or as
    `alias._name` of an imported gradviz module."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    tree = ast.parse(path.read_text() if source is None else source)
    found, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("gradviz"):
                continue
            for alias in node.names:
                if _private(alias.name) and base != here:
                    found.add((base, alias.name))
                aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gradviz") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)
                and aliases[node.value.id] != here):
            found.add((aliases[node.value.id], node.attr))
    return found


# Private names a module may take from another: none. What modules share is public,
# documented and tested where it is defined (#13). Keep this empty.
ALLOWED_PRIVATE: dict[str, set[tuple[str, str]]] = {}


@pytest.mark.parametrize("name", FILES)
def test_no_module_imports_another_modules_private_names(name):
    new = private_imports(PACKAGE / name) - ALLOWED_PRIVATE.get(name, set())
    assert not new, (f"gradviz/{name} uses private names of other modules: {sorted(new)}; "
                     "make them public (documented, with shapes, and tested) where they live")


def test_the_private_import_check_sees_both_forms():
    module = PACKAGE / "gradcheck" / "layers.py"  # a real path, for the package's name
    source = ("from gradviz.models import _first_layer, init_mlp\n"
              "from gradviz import flow as _flow\n"
              "from . import report\n"
              "from .errors import _hidden\n"
              "x = _flow._jacobian_norms(1) + report._table()\n")
    assert private_imports(module, source) == {
        ("gradviz.models", "_first_layer"), ("gradviz.flow", "_jacobian_norms"),
        ("gradviz.gradcheck.report", "_table"), ("gradviz.gradcheck.errors", "_hidden")}


# --------------------------------------------------------------------------- drawing layers

# what a widget may not do itself: each explorer's computation is a public core function
COMPUTING = {"grad", "vmap", "value_and_grad", "jacfwd", "jacrev", "ravel_pytree",
             "flatten_util", "enable_x64"}
WIDGET_FILES = sorted(p.name for p in (PACKAGE / "widgets").glob("*.py"))
PLOT_FILES = sorted(p.name for p in (PACKAGE / "plots").glob("*.py"))


def _imported_modules(tree) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("name", WIDGET_FILES)
def test_widgets_compute_nothing_themselves(name):
    tree = ast.parse((PACKAGE / "widgets" / name).read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    bad = sorted(used & COMPUTING)
    bad += sorted(m for m in _imported_modules(tree) if m.split(".")[0] == "optax")
    assert not bad, (f"gradviz/widgets/{name} computes ({bad}): move it into a public, "
                     "tested core function (gradviz.experiments) and call that")


@pytest.mark.parametrize("name", PLOT_FILES)
def test_plots_import_only_matplotlib_numpy_and_core_results(name):
    modules = _imported_modules(ast.parse((PACKAGE / "plots" / name).read_text()))
    bad = sorted(m for m in modules if m.split(".")[0] in ("ipywidgets", "IPython", "jax", "optax")
                 or m.startswith("gradviz.widgets"))
    assert not bad, f"gradviz/plots/{name} imports {bad}: plots draw core results, no more"


# Names moved out of a module by #13, still importable from it (for the widgets until they
# are split, and the notebooks): the same objects as in their new home.
MOVED = {
    "gradviz.flow": ("gradviz.losses", ["loss_value"]),
    "gradviz.flow ": ("gradviz.phase", ["PhaseDiagram", "phase_diagram", "scale_mlp"]),
    "gradviz.models": ("gradviz.rnn", ["RNN_CELLS", "init_rnn", "apply_rnn", "gru_update_gates"]),
    "gradviz.train": ("gradviz.clipping", ["record_clipping", "clip_fraction", "clip_weights",
                                           "clipped_finite_steps"]),
    "gradviz.train ": ("gradviz.runs", ["divergence_step", "describe_runs", "across_runs"]),
    "gradviz.attribution": ("gradviz.integrated", ["integrated_gradients", "quadrature",
                                                   "convergence", "completeness_delta"]),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_names_are_reexported_from_their_old_modules(old):
    import importlib

    new, names = MOVED[old]
    for name in names:
        assert getattr(importlib.import_module(old.strip()), name) is getattr(
            importlib.import_module(new), name)
