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
             "flatten_util", "enable_x64", "stack", "linalg"}
# what a widget may not draw itself: each explorer's figure is a draw_x/update_x pair in plots
DRAWING = {"plot", "semilogx", "semilogy", "loglog", "imshow", "axhline", "axvline",
           "colorbar", "legend", "set_data", "set_ydata", "set_xdata", "set_clim",
           "set_yscale", "set_linewidth", "add_patch"}
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


@pytest.mark.parametrize("name", [name for name in WIDGET_FILES if name != "base.py"])
def test_widgets_draw_nothing_themselves(name):
    tree = ast.parse((PACKAGE / "widgets" / name).read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    bad = sorted(used & DRAWING)
    bad += sorted(m for m in _imported_modules(tree) if m.split(".")[0] == "matplotlib")
    assert not bad, (f"gradviz/widgets/{name} draws ({bad}): move it into a draw_x/update_x "
                     "pair in gradviz.plots and call that")


@pytest.mark.parametrize("name", PLOT_FILES)
def test_plots_import_only_matplotlib_numpy_and_core_results(name):
    modules = _imported_modules(ast.parse((PACKAGE / "plots" / name).read_text()))
    bad = sorted(m for m in modules if m.split(".")[0] in ("ipywidgets", "IPython", "jax", "optax")
                 or m.startswith("gradviz.widgets"))
    assert not bad, f"gradviz/plots/{name} imports {bad}: plots draw core results, no more"


# --------------------------------------------------------------------------- re-exports

# What a name is imported from is where it is defined, so that a learner who follows an
# import finds the code. The only re-exports: the packages' __init__s (gradviz,
# gradviz.widgets, ...) and these facades, documented in their docstrings.
FACADES = {  # facade -> the module whose names it offers too
    "gradviz.attribution": "gradviz.integrated",  # every attribution method in one place
}
ROOT = PACKAGE.parent
IMPORTERS = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"),
                    *(ROOT / "benchmarks").glob("*.py")])


def _module_path(module: str) -> Path | None:
    """The file of a gradviz module that is not a package (None for a package or none)."""
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    return path if path.exists() else None


def defined_names(module: str) -> set[str]:
    """The names a module's own top-level code defines (and a facade's offered names)."""
    tree = ast.parse(_module_path(module).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and FACADES.get(module) == node.module:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def imported_elsewhere(path: Path, source: str | None = None) -> set[tuple[str, str]]:
    """(module, name) for each `from gradviz.m import name` and `gv.m.name` in a file that
    takes a name from a module (not a package) which does not define it."""
    tree = ast.parse(path.read_text() if source is None else source)
    taken, packages = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradviz"):
            taken.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            packages.update({alias.asname or alias.name: alias.name for alias in node.names
                             if alias.name == "gradviz"})
    for node in ast.walk(tree):  # gv.m.name
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id in packages):
            taken.add((f"gradviz.{node.value.attr}", node.attr))
    return {(module, name) for module, name in taken
            if _module_path(module) is not None and name not in defined_names(module)}


@pytest.mark.parametrize("path", IMPORTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_names_are_imported_from_the_module_that_defines_them(path):
    elsewhere = imported_elsewhere(path)
    assert not elsewhere, (f"{path.relative_to(ROOT)} takes names from modules that only "
                           f"import them: {sorted(elsewhere)}; import them from where they "
                           "are defined")


def test_the_reexport_check_sees_both_forms_and_allows_the_facade():
    source = ("import gradviz as gv\n"
              "from gradviz.flow import gradient_flow, check_targets\n"
              "from gradviz.attribution import integrated_gradients\n"
              "x = gv.train.record_clipping, gv.flow.loss_slice, gv.isometry\n")
    assert imported_elsewhere(PACKAGE / "flow.py", source) == {
        ("gradviz.flow", "check_targets"), ("gradviz.train", "record_clipping")}


@pytest.mark.parametrize("name", [f for f in FILES if not f.endswith("__init__.py")])
def test_no_core_module_imports_a_name_only_to_offer_it(name):
    """A module imports another's names to use them, not to re-export them (facades
    excepted)."""
    module = _module_name(PACKAGE / name)
    tree = ast.parse((PACKAGE / name).read_text())
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradviz")
                and node.module != FACADES.get(module) for alias in node.names}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imported <= used, f"gradviz/{name} re-exports {sorted(imported - used)}"
