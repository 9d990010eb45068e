"""What makes a notebook dependable for a learner, checked for every notebook (a glob, so
new chapters are included): Colab and Binder badges for its own file and an
install-if-missing cell first; no cell reads or writes files, uses the working directory,
runs shell commands or reaches the network; a fresh kernel gives the same text twice, from
any working directory. And an explorer pushed to overflow shows it instead of crashing."""

import io
import re
import tokenize
from pathlib import Path

import matplotlib
import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from notebook_runner import run_notebook

matplotlib.use("Agg")

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
README = (ROOT / "README.md").read_text()


def read(path: Path):
    return nbformat.read(path, as_version=4)


def repository() -> tuple[str, str]:
    """(owner/name, branch) of the GitHub repository, from the README's Binder link."""
    found = re.search(r"https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/([\w.-]+)\?", README)
    assert found, "README.md has no Binder link (https://mybinder.org/v2/gh/OWNER/REPO/BRANCH?)"
    return found.group(1), found.group(2)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS


# ------------------------------------------------------------------ Colab and Binder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badges_open_this_notebook_on_colab_and_binder(path):
    slug, branch = repository()
    first = read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("[!["), (
        f"{path.name}: the first cell must be markdown starting with the badges")
    badges = {alt: href for alt, href in
              re.findall(r"\[!\[([^\]]*)\]\([^)]*\)\]\(([^)]*)\)", first.source)}
    want = {
        "Open in Colab": f"https://colab.research.google.com/github/{slug}/blob/{branch}/"
                         f"notebooks/{path.name}",
        "Launch Binder": f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/"
                         f"notebooks/{path.name}",
    }
    for alt, href in want.items():
        assert badges.get(alt) == href, (
            f"{path.name}: the {alt!r} badge must link to {href}, found {badges.get(alt)!r}")


INSTALL = re.compile(
    r'if importlib\.util\.find_spec\("gradviz"\) is None:\s*\n\s+%pip install .*'
    r'git\+https://github\.com/(?P<slug>[\w.-]+/[\w.-]+)')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_installs_gradviz_only_when_missing(path):
    code = [cell.source for cell in read(path).cells if cell.cell_type == "code"]
    found = INSTALL.search(code[0])
    assert found, (f"{path.name}: the first code cell must install gradviz when it is missing "
                   f"(as in notebooks/01), found:\n{code[0]}")
    assert found.group("slug") == repository()[0]
    later = [src for src in code[1:] if re.search(r"pip install|^\s*!", src, re.M)]
    assert not later, f"{path.name}: only the first cell may install packages: {later}"


# ------------------------------------------------- no files, no working directory, no shell

# (pattern, what it means) over a cell's Python code, comments removed, magics and shell
# escapes turned into the get_ipython() calls IPython runs for them.
DEPENDENCIES = [
    (r"\bopen\(", "opens a file"),
    (r"\bPath\(|\bpathlib\b", "builds a file path"),
    (r"\bread_(csv|table|json|parquet|excel|pickle)\(", "reads a data file"),
    (r"\b(np|numpy)\.(load|loadtxt|genfromtxt|fromfile|save|savez\w*|savetxt)\(",
     "loads or saves a NumPy file"),
    (r"\b(pickle|joblib|torch)\.(load|dump)\(", "loads or saves a file"),
    (r"\bsavefig\(|\bimread\(|\bto_csv\(", "reads or writes an image or data file"),
    (r"\bos\.(chdir|getcwd|listdir|scandir|walk|path|environ)\b|\bglob\b|__file__",
     "depends on the working directory or the environment"),
    (r"""(\.\./|["']~/|["']/(home|tmp|work|root|usr|etc|mnt|data|opt|var|Users)\b|"""
     r"""["'][A-Za-z]:\\)""", "names a path outside the repository"),
    (r"run_line_magic\('(cd|run|load|loadpy|bookmark|writefile|save|store)'|"
     r"run_cell_magic\('(writefile|bash|sh|script|system)'|\.system\(|\.getoutput\(",
     "runs a shell command or a file"),
    (r"\burlopen\(|\brequests\.|\burllib\b|\bhttpx\b|\bsocket\b|https?://|fetch_openml",
     "reaches the network"),
]


def python_code(source: str) -> str:
    """A cell's code as Python, with magics translated and comments removed."""
    lines = TransformerManager().transform_cell(source).splitlines()
    for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    return "\n".join(lines)


def dependencies(source: str) -> list[str]:
    code = python_code(source)
    return [f"{meaning}: {m.group(0)!r}" for pattern, meaning in DEPENDENCIES
            for m in [re.search(pattern, code)] if m]


@pytest.mark.parametrize("source", [
    'data = open("digits.txt").read()', "from pathlib import Path", "x = np.load('x.npy')",
    "df = pd.read_csv('a.csv')", "fig.savefig('out.png')", "os.chdir('..')",
    "%cd ../data", "!ls", "%run helper.py", "%%writefile x.py\nprint(1)",
    "x = load('../weights.npz')", "f = '/home/me/data.csv'", "import glob",
    "urllib.request.urlopen('https://example.org')", "print(__file__)",
])
def test_the_scan_finds_file_cwd_shell_and_network_use(source):
    assert dependencies(source), source


def test_the_scan_ignores_comments_and_plain_code():
    assert dependencies("# open('x') here, ../ and /home too\nx = 1 / 2  # Path('.')") == []
    assert dependencies('print(f"{a} / {b}", "1/2 of the layers")') == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_depends_on_files_the_working_directory_or_the_network(path):
    cells = [c for c in read(path).cells if c.cell_type == "code"]
    found = [f"cell {i + 1}: {problem}" for i, cell in enumerate(cells[1:], start=1)
             for problem in dependencies(cell.source)]  # cells[0]: the install cell
    assert not found, f"{path.name}:\n" + "\n".join(found)


# ------------------------------------------------ two fresh runs, another working directory


def text_outputs(notebook) -> list:
    """Every code cell's text: streams (consecutive chunks joined, as Jupyter shows them:
    where a stream is cut into chunks depends on timing), text/plain results, errors."""
    texts = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                if texts and texts[-1][:2] == (index, out.name):
                    texts[-1] = (index, out.name, texts[-1][2] + out.text)
                else:
                    texts.append((index, out.name, out.text))
            elif out.output_type == "error":
                texts.append((index, "error", f"{out.ename}: {out.evalue}"))
            else:
                texts.append((index, out.output_type, out.get("data", {}).get("text/plain")))
    return texts


def test_start_here_gives_the_committed_text_from_another_directory(tmp_path):
    """Run from a folder that is not notebooks/, 00_start_here.ipynb prints exactly its
    committed text (nbval's run from notebooks/ prints it too: so two runs agree) and
    writes no file where it runs."""
    path = ROOT / "notebooks" / "00_start_here.ipynb"
    run = text_outputs(run_notebook(read(path), tmp_path, timeout=120))
    assert not [t for t in run if t[1] == "error"], run
    committed = [t for t in text_outputs(read(path)) if t[1] == "stream"]
    assert [t for t in run if t[1] == "stream"] == committed
    assert not list(tmp_path.iterdir()), "the notebook wrote files into its working directory"


# ------------------------------------------------------------- Colab: the inline fallback


def test_on_colab_explorers_redraw_an_inline_image_with_the_same_controls(tmp_path):
    """Where ipympl is unreliable (Colab: google.colab is imported), an explorer draws a
    static image into an Output widget, and a control change replaces that image."""
    cells = [
        "from gradviz.widgets import FlowExplorer, use_live_figures",
        "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        "print(use_live_figures())",
        "explorer = FlowExplorer(depth=10, width=32)\nexplorer",
        "explorer.depth.value = 20\nprint(explorer.live, type(explorer.view).__name__)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook = run_notebook(notebook, tmp_path, timeout=120)
    printed = [out.text for cell in notebook.cells for out in cell.outputs
               if out.output_type == "stream"]
    assert printed == ["inline\n", "False Output\n"], printed
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"]: m["state"] for m in state.values()}
    assert "MPLCanvasModel" not in models  # no ipympl figure
    assert {"IntSliderModel", "DropdownModel", "FloatSliderModel"} <= set(models)
    images = [out for out in models["OutputModel"]["outputs"] if "image/png" in out["data"]]
    assert len(images) == 1, models["OutputModel"]["outputs"]  # redrawn in place, not added
    assert "layer 20's signal" in models["HTMLModel"]["value"]
