"""The learner's path, in a real browser: JupyterLab served from .venv, every notebook
opened in headless Chromium, Run All Cells from the menu, every explorer's first slider
dragged with the mouse.

For each notebook in notebooks/ (a glob, so new chapters are included) it checks: every
code cell ran (execution counts 1..N) with no error output; no widget shows "Error
displaying widget" or "model not found"; every explorer shows its controls and a live
ipympl figure; dragging its first slider changes the figure's pixels and the text summary,
raises nothing in the kernel, the kernel stays alive, and every panel again shows all its
data, within a decade on log axes (ipympl axes do not rescale by themselves); and in
1280- and 1920-px windows no explorer is wider than the notebook column and no label of
its controls is cut.
Screenshots go to test-artifacts/browser/.

The server works on copies of the notebooks in a temporary folder, with temporary Jupyter
config, data, settings and workspace folders (nothing read from or written to the user's
setup, the repository's notebooks untouched), on a free localhost port with a generated
token. Test-only settings: --allow-root (CI runs as root), Chromium's --no-sandbox, the
news/announcements plugin disabled, all cells attached to the page (windowingMode none).

Chromium is Debian's /usr/bin/chromium (`make browser` installs it; override with
GRADVIZ_CHROMIUM). Without it the tests skip, except in CI (CI=true), where they fail.
GRADVIZ_BROWSER_TIMEOUT sets the seconds allowed for one notebook's Run All (default 600);
GRADVIZ_NOTEBOOK_DIR runs the test on another folder of notebooks (default notebooks/).
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest

from gradviz.plots.style import LEAVE, log_step

ROOT = Path(__file__).parents[1]
NOTEBOOK_DIR = Path(os.environ.get("GRADVIZ_NOTEBOOK_DIR", ROOT / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("GRADVIZ_CHROMIUM", "/usr/bin/chromium"))
RUN_ALL_TIMEOUT = float(os.environ.get("GRADVIZ_BROWSER_TIMEOUT", "600"))
SLIDER_TIMEOUT = 90.0  # seconds for a dragged slider to show on the figure
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BROKEN_WIDGET = ("Error displaying widget", "model not found")

pytestmark = pytest.mark.browser


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the server and browser


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = (f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium) "
                   "or set GRADVIZ_CHROMIUM")
        if in_ci():
            pytest.fail(message + " (CI=true: a missing browser is a failure)")
        pytest.skip(message)
    return CHROMIUM


class Lab:
    def __init__(self, url: str, token: str, root: Path, log: Path):
        self.url, self.token, self.root, self.log = url, token, root, log

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium):
    """JupyterLab on copies of the notebooks, isolated from the user's Jupyter setup."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.png"))
    config, settings = home / "config", home / "settings"
    write_json(config / "labconfig" / "page_config.json",
               {"disabledExtensions": {ANNOUNCEMENTS: True}})
    write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
               {"fetchNews": "false", "checkForUpdates": False})
    write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
               {"windowingMode": "none"})  # every cell in the page, not only visible ones
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JAX_PLATFORMS="cpu",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    port, token = free_port(), secrets.token_hex(24)
    command = [
        str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # lets the test read the notebook's model
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root; never in `make lab`
    log = home / "server.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                  cwd=home)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("GET", "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 120 s:\n{lab.log_tail()}")
                time.sleep(0.5)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"])  # --no-sandbox: tests only
        yield browser
        browser.close()


# ------------------------------------------------------------- reading the page and kernel

# Runs in the page: the notebook's cells as the model holds them (window.jupyterapp is
# exposed by --LabApp.expose_app_in_browser). Also tags each cell's node with its index.
NOTEBOOK_STATE = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  const panel = Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === path);
  if (!panel || !panel.content.widgets.length) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.map((cell, index) => {
    cell.node.setAttribute('data-gv-index', String(index));
    const model = cell.model;
    if (model.type !== 'code') return {index, type: model.type};
    const outputs = model.outputs.toJSON();
    return {
      index, type: 'code', count: model.executionCount,
      prompt: cell.promptNode ? cell.promptNode.textContent : '',
      source: model.sharedModel.getSource().split('\\n').slice(0, 2).join(' / '),
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
      widgets: outputs.map((o, at) => [o.data && o.data[VIEW] && o.data[VIEW].model_id, at])
        .filter(([id]) => id),
      text: cell.outputArea ? cell.outputArea.node.innerText : '',
    };
  });
  return {status: kernel ? kernel.status : 'no kernel', cells};
}""".replace("VIEW", json.dumps(WIDGET_VIEW))

# Runs in the page: executes code in the notebook's kernel without touching the notebook
# (store_history=false: no execution count, outputs go to this request only).
KERNEL_EXECUTE = """async ([path, code]) => {
  const app = window.jupyterapp;
  const panel = Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === path);
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let out = '', err = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') err += `${msg.content.ename}: ${msg.content.evalue}`;
  };
  const reply = await future.done;
  return {status: reply.content.status, out, err};
}"""

# Runs in the page: from now on, record the kernel's error messages and stderr tracebacks
# that no cell shows (a slider's callback runs outside any cell).
WATCH_KERNEL = """(path) => {
  const app = window.jupyterapp;
  const panel = Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === path);
  window.gvKernelErrors = [];
  panel.sessionContext.session.kernel.iopubMessage.connect((_, msg) => {
    const type = msg.header.msg_type, content = msg.content;
    if (type === 'error') window.gvKernelErrors.push(`${content.ename}: ${content.evalue}`);
    if (type === 'stream' && content.name === 'stderr' && /Traceback|Error/.test(content.text))
      window.gvKernelErrors.push(content.text.slice(-800));
  });
}"""

# Kernel side: what each explorer (found by its displayed widget's model id) shows.
PROBE = '''
def _gradviz_probe(model_ids):
    import gc
    import json

    import numpy as np

    from gradviz.widgets import Explorer

    explorers = {e.widget.model_id: e for e in gc.get_objects() if isinstance(e, Explorer)}

    def first_slider(widget):
        if type(widget).__name__.endswith("Slider"):
            return widget
        for child in getattr(widget, "children", ()):
            found = first_slider(child)
            if found is not None:
                return found
        return None

    def finite(values, log):
        values = np.asarray(values, dtype=float).ravel()
        keep = np.isfinite(values) & ((values > 0) if log else True)
        return values[keep]

    def panel(ax):
        log = ax.get_yscale() == "log"
        ys = [finite(line.get_ydata(), log) for line in ax.lines
              if line.get_transform() is ax.transData]
        ys = np.concatenate(ys) if ys else np.zeros(0)
        low, high = sorted(ax.get_ylim())
        locs = [t for t in ax.yaxis.get_majorticklocs() if low <= t <= high]
        fitted = None
        if ax.get_autoscaley_on() and ys.size:  # where autoscaling would put the limits
            before = ax.get_ylim()
            ax.relim()
            ax.autoscale_view(scalex=False)
            fitted = [float(v) for v in ax.get_ylim()]
            ax.set_ylim(before, auto=None)
        return {"title": ax.get_title(), "log": log, "ylim": [float(low), float(high)],
                "ticks": list(ax.yaxis.get_major_formatter().format_ticks(locs)),
                "data": [float(ys.min()), float(ys.max())] if ys.size else None,
                "fitted": fitted}

    found = {}
    for model_id in model_ids:
        explorer = explorers.get(model_id)
        if explorer is None:
            continue
        slider = first_slider(explorer.widget)
        found[model_id] = {
            "type": type(explorer).__name__, "live": bool(explorer.live),
            "slider": None if slider is None else [slider.description, repr(slider.value)],
            "summary": explorer.summary.value,
            "panels": [panel(ax) for ax in explorer.fig.axes],
        }
    print(json.dumps(found))

'''


class NotebookPage:
    """One notebook open in JupyterLab, with the checks' failure messages naming it."""

    def __init__(self, page, path: str):
        self.page, self.path = page, path

    def state(self):
        return self.page.evaluate(NOTEBOOK_STATE, self.path)

    def code_cells(self):
        return [c for c in self.state()["cells"] if c["type"] == "code"]

    def cell(self, index: int):
        return self.page.locator(f'[data-gv-index="{index}"]')

    def output(self, index: int, at: int):
        """Output number `at` of cell `index` (not outputs nested in Output widgets)."""
        return self.cell(index).locator(".jp-Cell-outputArea > .jp-OutputArea-child").nth(at)

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()

    def kernel(self, code: str) -> str:
        reply = self.page.evaluate(KERNEL_EXECUTE, [self.path, code])
        assert reply["status"] == "ok", (
            f"{self.path}: the kernel did not answer a probe: {reply['err']}")
        return reply["out"]

    def probe(self, model_ids) -> dict:
        out = self.kernel(PROBE + f"_gradviz_probe({list(model_ids)!r})\ndel _gradviz_probe\n")
        return json.loads(out.strip().splitlines()[-1])

    @staticmethod
    def wait_for(done, timeout: float, interval: float = 0.5):
        """done()'s first truthy value, polled until `timeout` seconds; None after that."""
        deadline = time.monotonic() + timeout
        while True:
            value = done()
            if value:
                return value
            if time.monotonic() > deadline:
                return None
            time.sleep(interval)


def label(cell: dict) -> str:
    """A cell as JupyterLab's status bar numbers it (from 1, markdown included)."""
    return f"cell {cell['index'] + 1} ({cell['source']!r})"


def expected_explorer_cells(notebook: Path) -> list[int]:
    """Indices of the cells that build and show an explorer, read from the committed file."""
    nb = nbformat.read(notebook, as_version=4)
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and re.search(r"\w*Explorer\(", cell.source)
            and any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))]


# Runs in the page, on one explorer's output: what does not fit the notebook column.
LAYOUT = """(output) => {
  const problems = [];
  const area = output.querySelector('.jp-OutputArea-output') || output;
  const right = area.getBoundingClientRect().right;
  // the figure and every control: wider than the column, or cut off by a clipping box
  for (const el of output.querySelectorAll('canvas, .widget-inline-hbox, .widget-box'))
    if (el.offsetParent !== null && el.getBoundingClientRect().right > right + 1) {
      const what = el.tagName === 'CANVAS' ? 'the figure' : 'a row of controls';
      problems.push(`${what} reaches ${Math.round(el.getBoundingClientRect().right - right)} ` +
                    `px past the ${Math.round(area.clientWidth)} px column`);
      break;
    }
  if (area.scrollWidth > area.clientWidth + 1)
    problems.push(`the output is ${area.scrollWidth} px wide in a ${area.clientWidth} px column`);
  for (const el of output.querySelectorAll('.widget-label, .widget-readout, .widget-html-content'))
    if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
      problems.push(`the label ${JSON.stringify(el.textContent.trim().slice(0, 40))} is cut ` +
                    `(${el.scrollWidth} px of text in ${el.clientWidth} px)`);
  return problems;
}"""
LAYOUT_WIDTHS = (1280, 1920)  # browser window widths at which every explorer must fit


def figure_pixels(view) -> bytes:
    return view.locator(".jupyter-matplotlib-canvas-div").first.screenshot()


def drag_first_slider(page, view) -> None:
    """Drag the first slider's handle with the mouse to the far end (10% or 90% of the
    track, whichever is further from where it sits)."""
    slider = view.locator(".widget-slider").first
    track = slider.locator(".noUi-target").first
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    box, knob = track.bounding_box(), handle.bounding_box()
    x, y = knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2
    target = box["x"] + box["width"] * (0.1 if x > box["x"] + box["width"] / 2 else 0.9)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(target, y, steps=8)
    page.mouse.up()


# ---------------------------------------------------------------------------- the test


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_its_explorers_respond_in_jupyterlab(lab, browser, notebook):
    name = notebook.name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error"
            and "net::ERR_" not in m.text else None)  # offline: the badges' images fail
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    nb = NotebookPage(page, name)
    started = time.monotonic()

    def fail(message: str, server_log: bool = False):
        page.screenshot(path=str(ARTIFACTS / f"{notebook.stem}-failure.png"))
        (ARTIFACTS / f"{notebook.stem}-failure.html").write_text(page.content())
        details = [f"screenshot and page: {ARTIFACTS}/{notebook.stem}-failure.*"]
        if console:
            details.append("browser console errors:\n" + "\n".join(console[-5:]))
        if server_log:
            details.append(f"JupyterLab's log ({lab.log}):\n{lab.log_tail(1500)}")
        pytest.fail(f"{name}: {message}\n" + "\n".join(details), pytrace=False)

    try:
        # a workspace of its own, so the previous notebook is not restored next to it
        page.goto(f"{lab.url}/lab/workspaces/{notebook.stem}/tree/{name}?token={lab.token}")
        if not nb.wait_for(lambda: (s := nb.state()) and s["status"] == "idle",
                           120):
            fail("the notebook did not open with an idle kernel within 120 s", server_log=True)
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        assert ANNOUNCEMENTS in config.get("disabledExtensions", []), config.get(
            "disabledExtensions")

        nb.menu("Edit", "Clear Outputs of All Cells")
        if any(c["count"] is not None or c["text"].strip() for c in nb.code_cells()):
            fail("Edit > Clear Outputs of All Cells left outputs or execution counts")
        nb.menu("Run", "Run All Cells")

        def finished():
            state = nb.state()
            cells = [c for c in state["cells"] if c["type"] == "code"]
            done = all(c["count"] is not None for c in cells) or any(c["errors"] for c in cells)
            return state if done and state["status"] == "idle" else None

        state = nb.wait_for(finished, RUN_ALL_TIMEOUT, interval=1.0)
        if state is None:
            running = [c for c in nb.code_cells() if "*" in c["prompt"]]
            where = (f"{label(running[0])} was still running" if running
                     else "no cell was running")
            fail(f"Run All Cells did not finish within {RUN_ALL_TIMEOUT:.0f} s: {where}",
                 server_log=True)
        run_seconds = time.monotonic() - started
        cells = [c for c in state["cells"] if c["type"] == "code"]

        errors = [f"{label(c)}: {e}" for c in cells for e in c["errors"]]
        if errors:
            fail("error output after Run All Cells:\n" + "\n".join(errors))
        counts = [c["count"] for c in cells]
        if counts != list(range(1, len(cells) + 1)):
            fail(f"execution counts are not 1..{len(cells)} in order: {counts}")

        # widgets rendered (their views are created lazily: give them a moment)
        def broken():
            return [f"{label(c)}: {text!r}"
                    for c in nb.code_cells() for text in BROKEN_WIDGET if text in c["text"]]

        page.wait_for_timeout(1000)
        if broken():
            fail("a widget failed to display:\n" + "\n".join(broken()))

        page.evaluate(WATCH_KERNEL, name)
        server_log_start = len(lab.log.read_text(errors="replace"))

        def callback_errors() -> list[str]:
            """Errors raised in the kernel outside cells: sent to the page, or printed to
            the kernel's stderr (which the server's log holds)."""
            sent = page.evaluate("window.gvKernelErrors")
            logged = lab.log.read_text(errors="replace")[server_log_start:]
            found = sent + ([logged[-1500:]] if "Traceback" in logged else [])
            return list(dict.fromkeys(found))[:5]

        widget_ids = {mid: c["index"] for c in cells for mid, _ in c["widgets"]}
        output_at = {mid: at for c in cells for mid, at in c["widgets"]}
        explorers = nb.probe(widget_ids)
        shown = sorted({widget_ids[mid] for mid in explorers})
        expected = expected_explorer_cells(notebook)
        if not set(expected) <= set(shown):
            missing = [i + 1 for i in sorted(set(expected) - set(shown))]
            fail(f"cells {missing} show an explorer in the committed notebook but not on the "
                 f"page (explorers found in cells {[i + 1 for i in shown]})")
        not_live = [widget_ids[mid] + 1 for mid, e in explorers.items() if not e["live"]]
        if not_live:
            fail(f"explorers in cells {not_live} fell back to static images (no ipympl)")

        for width in LAYOUT_WIDTHS:  # every explorer fits the column at common window sizes
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_timeout(1000)  # let the page (and any resized figure) settle
            for model_id, explorer in explorers.items():
                index = widget_ids[model_id]
                view = nb.output(index, output_at[model_id])
                view.scroll_into_view_if_needed()
                problems = view.evaluate(LAYOUT)
                if problems:
                    view.screenshot(path=str(ARTIFACTS / f"{notebook.stem}-cell{index + 1}-"
                                                         f"{width}px.png"))
                    fail(f"the {explorer['type']} of cell {index + 1} does not fit a {width} px "
                         "window: " + "; ".join(problems))
        page.set_viewport_size({"width": 1400, "height": 1000})

        for k, (model_id, before) in enumerate(explorers.items(), start=1):
            index = widget_ids[model_id]
            where = f"the {before['type']} of cell {index + 1}"
            view = nb.output(index, output_at[model_id])  # this explorer's output
            figure = view.locator(".jupyter-matplotlib-canvas-div canvas").first
            try:
                figure.wait_for(state="visible", timeout=30_000)
            except Exception:
                fail(f"{where}: no ipympl figure (canvas) on the page")
            size = figure.bounding_box()
            if not size or size["width"] < 100 or size["height"] < 100:
                fail(f"{where}: the figure canvas is too small to see: {size}")
            if before["slider"] is None or not view.locator(".widget-slider").count():
                fail(f"{where}: no slider among its controls")
            view.scroll_into_view_if_needed()
            page.wait_for_timeout(500)  # let the first image settle
            view.locator(".jp-OutputArea-output").first.screenshot(
                path=str(ARTIFACTS / f"{notebook.stem}-explorer{k}-before.png"))
            pixels = figure_pixels(view)
            summary = view.locator(".widget-html").last.inner_text()

            drag_first_slider(page, view)
            if not nb.wait_for(lambda view=view, pixels=pixels: figure_pixels(view) != pixels,
                               SLIDER_TIMEOUT):
                fail(f"{where}: the figure's pixels did not change within {SLIDER_TIMEOUT:.0f} s"
                     f" of dragging the {before['slider'][0]!r} slider")
            if not nb.wait_for(lambda: nb.state()["status"] == "idle", 60):
                fail(f"{where}: the kernel was not idle 60 s after the slider moved "
                     f"(status {nb.state()['status']!r})", server_log=True)
            after = nb.probe([model_id])[model_id]  # the kernel answers: it is alive
            if after["slider"][1] == before["slider"][1]:
                fail(f"{where}: dragging {before['slider'][0]!r} did not change its value "
                     f"({before['slider'][1]})")
            if view.locator(".widget-html").last.inner_text() == summary:
                fail(f"{where}: the summary did not change after {before['slider'][0]!r} "
                     f"moved from {before['slider'][1]} to {after['slider'][1]}: {summary!r}")
            if callback_errors():
                fail(f"{where}: the kernel raised after {before['slider'][0]!r} moved:\n"
                     + "\n".join(callback_errors()))
            check_panels_fit_their_data(where, before, after, fail)
            page.wait_for_timeout(500)
            view.locator(".jp-OutputArea-output").first.screenshot(
                path=str(ARTIFACTS / f"{notebook.stem}-explorer{k}-after.png"))

        if broken():
            fail("a widget failed to display after the sliders moved:\n" + "\n".join(broken()))
        errors = [f"{label(c)}: {e}" for c in nb.code_cells() for e in c["errors"]]
        if errors:
            fail("error output after the sliders moved:\n" + "\n".join(errors))
        if explorers:
            nb.cell(widget_ids[next(iter(explorers))]).scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{notebook.stem}.png"))
        print(f"{name}: Run All {run_seconds:.0f} s, {len(cells)} code cells, "
              f"{len(explorers)} explorers, total {time.monotonic() - started:.0f} s")
    finally:
        try:  # free the kernel for the next notebook
            for session in lab.api("GET", "/api/sessions"):
                lab.api("DELETE", f"/api/sessions/{session['id']}")
        finally:
            context.close()


def check_panels_fit_their_data(where, before, after, fail) -> None:
    """After a big slider move, every panel shows all of its new data: the data lie within
    its y-limits, and a log panel's limits are at most a decade and a third wider than
    the data at either end, a few decades on a wide one (the explorers move limits in
    steps, gradviz.plots.style.log_limits, so that small moves redraw only the lines;
    ipympl axes do not rescale by themselves)."""
    for new in after["panels"]:
        if new["data"] is None:
            continue
        (low, high), (data_low, data_high) = sorted(new["ylim"]), new["data"]
        span = (high - low) or 1.0
        if data_low < low - 1e-6 * span or data_high > high + 1e-6 * span:
            fail(f"{where}: panel {new['title']!r} does not show all its data after the "
                 f"slider moved: y-limits {new['ylim']}, data {new['data']}")
        decades = np.log10(data_high / data_low) if data_low > 0 else 0
        spare = 2 * log_step(decades) - 1 + LEAVE + 0.05  # what log_limits keeps at most
        if new["fitted"] is not None and new["log"] and data_low > 0 and (  # autoscaled
                np.log10(data_low / low) > spare or np.log10(high / data_high) > spare):
            fail(f"{where}: panel {new['title']!r} is more than {spare:.1f} decades wider "
                 f"than its data after the slider moved: y-limits {new['ylim']}, data "
                 f"{new['data']}")
