"""What the learner feels: keydown on an explorer's slider -> first repainted frame, in a
real browser. Prints figures; it is not a test.

Serves JupyterLab from .venv on a generated notebook (one cell per explorer, each made
with the arguments a chapter uses, plus two reference figures that do no JAX work), opens
it in headless Chromium (Playwright, Debian's /usr/bin/chromium), runs all cells, then for
each figure focuses its first slider's handle and presses ArrowRight / ArrowLeft (the
TrainingExplorer: Enter on its Step button, 10 training steps and a redraw). For each
key it measures, in the page, from the keydown event's timestamp to the first animation
frame on which the figure's canvas pixels differ (a checksum of the canvas read on every
frame), then waits until the figure has been still for 300 ms. The first press of each
explorer is a warm-up and not counted. Then, for each slider, three fast drags of its
handle to the right end and to the left end (about half a second each): the time from
the mouse's release to the figure's last repaint (goal: under 200 ms, no backlog of stale
frames).

The two references are the stack's own floor, with the same 2x2 figure of 8 log-scale
lines of 64 points: "floor: blitting" (animated lines, cached background, restore_region +
draw_artist + blit) and "floor: draw_idle" (a full redraw). Each explorer's median is also
given as a multiple of the blitting floor measured in the same run. Compilations are
counted in the kernel (jax.monitoring) over every press after a figure's warm-up press.

Run: .venv/bin/python benchmarks/browser_latency.py [--presses 24] [--only FlowExplorer]
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np

CHROMIUM = os.environ.get("GRADVIZ_CHROMIUM", "/usr/bin/chromium")
QUIET = 300  # ms without a pixel change: the figure is still

FLOOR = """\
def floor_figure(blit):
    \"\"\"A 2x2 figure of 8 log-scale lines of 64 points and a slider that changes them.\"\"\"
    x = np.arange(64)
    with plt.ioff():  # shown once, in the box returned below
        fig, axes = plt.subplots(2, 2, figsize=(8, 5), layout="constrained")
    fig.canvas.header_visible = False
    lines = []
    for ax in axes.flat:
        ax.set(yscale="log", ylim=(1e-8, 10), xlim=(0, 63))
        for k in range(2):
            lines += ax.plot(x, np.exp(-x / (5 + k)), animated=blit)
    slider = widgets.IntSlider(value=5, min=1, max=60, description="decay")
    background = []

    def cache_background(event):
        background[:] = [fig.canvas.copy_from_bbox(fig.bbox)]
        for line in lines:
            line.axes.draw_artist(line)

    def update(change):
        for k, line in enumerate(lines):
            line.set_ydata(np.exp(-x / (change.new + k % 2 + k // 2)))
        if blit:
            fig.canvas.restore_region(background[0])
            for line in lines:
                line.axes.draw_artist(line)
            fig.canvas.blit(fig.bbox)
        else:
            fig.canvas.draw_idle()

    if blit:
        fig.canvas.mpl_connect("draw_event", cache_background)
    slider.observe(update, "value")
    return widgets.VBox([slider, fig.canvas])
"""

SETUP = """\
%matplotlib widget
import jax
import jax.numpy as jnp
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

import gradviz as gv
from gradviz.live import Architecture
from gradviz.widgets import *  # noqa: F403

COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **_: COMPILES.append(duration)
    if event == "/jax/core/compile/backend_compile_duration" else None)
key = jax.random.PRNGKey(0)
data = gv.data.digits(64)
mlp = gv.init_mlp(key, 64, 32, 3, 10, init="xavier")
""" + FLOOR

# (name, the cell's code): explorers as the chapters make them (chapter 5's with untrained
# models, which costs the same per update)
FIGURES = [
    ("floor: blitting", "floor_figure(blit=True)"),
    ("floor: draw_idle", "floor_figure(blit=False)"),
    ("FlowExplorer", 'FlowExplorer(depth=30, width=128, activation="sigmoid", init="xavier")'),
    ("RNNExplorer", 'RNNExplorer(cell="vanilla", recurrent_scale=0.9, length=50)'),
    ("ClipExplorer", "ClipExplorer(threshold=1.0)"),
    ("PhaseDiagramExplorer", 'PhaseDiagramExplorer(activation="tanh", sigma_w=1.5, '
                             'sigma_b=0.3, depth=30)'),
    ("IsometryExplorer", 'IsometryExplorer(depth=32, activation="linear", width=32)'),
    ("StepSizeExplorer", 'StepSizeExplorer(eps=1e-5, dtype="float64")'),
    ("AttributionExplorer", 'AttributionExplorer({"untrained": (mlp, "tanh")}, data.x[:32], '
                            'data.y[:32], {"zeros": jnp.zeros(64)}, '
                            'ink=lambda image: 8 + 4 * image)'),  # as chapter 5: ink
    ("CompletenessExplorer", "CompletenessExplorer(mlp, data.x[0], 3, n_steps=4)"),
    # its Step button: 10 training steps of a depth-8 width-64 MLP, then the redraw
    ("TrainingExplorer", "TrainingExplorer(arch=Architecture(depth=8, width=64), "
                         "steps_per_tick=10)"),
]
BUTTON = {"TrainingExplorer": "Step"}  # figures measured by clicking a button, not a slider

# In the page (spliced into the two functions below): a checksum of the canvas pixels.
CHECKSUM = """  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const checksum = () => {
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 29) s = (s * 31 + d[i]) >>> 0;
    return s;
  };"""

# In the page: arm a watcher on the canvas, then resolve with keydown -> changed frame.
ARM = """([handle, canvas]) => {
CHECKSUM
  const start = checksum();
  window.gvKeydown = null;
  handle.addEventListener('keydown', e => { window.gvKeydown = e.timeStamp; },
                          {once: true, capture: true});
  window.gvFrame = new Promise(resolve => {
    const deadline = performance.now() + 10000;
    const frame = t => {
      if (window.gvKeydown !== null && checksum() !== start) return resolve(t - window.gvKeydown);
      if (t > deadline) return resolve(null);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}""".replace("CHECKSUM", CHECKSUM)

# In the page: resolve once the canvas has not changed for QUIET ms (at most 10 s).
SETTLE = """([canvas, quiet]) => new Promise(resolve => {
CHECKSUM
  let last = checksum(), since = performance.now();
  const end = since + 10000;
  const frame = t => {
    const now = checksum();
    if (now !== last) { last = now; since = t; }
    if (t - since >= quiet || t > end) return resolve();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})""".replace("CHECKSUM", CHECKSUM)

# In the page: watch a drag; once the mouse is released and the canvas has been still for
# `quiet` ms, resolve with the time from the release to the canvas' last change (ms; 0 if
# it last changed before the release).
DRAG_WATCH = """([canvas, quiet]) => {
CHECKSUM
  window.gvRelease = null;
  document.addEventListener('mouseup', e => { window.gvRelease = e.timeStamp; },
                            {once: true, capture: true});
  window.gvSettled = new Promise(resolve => {
    let last = checksum(), changed = performance.now();
    const end = changed + 30000;
    const frame = t => {
      const now = checksum();
      if (now !== last) { last = now; changed = t; }
      if (window.gvRelease !== null && t - Math.max(changed, window.gvRelease) >= quiet)
        return resolve(Math.max(0, changed - window.gvRelease));
      if (t > end) return resolve(null);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}""".replace("CHECKSUM", CHECKSUM)

# In the page: is the notebook open, with an idle kernel?
IDLE = """(path) => {
  const app = window.jupyterapp;
  const panel = app && Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === path);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.status === 'idle';
}"""

# In the page: run code in the notebook's kernel (needs --LabApp.expose_app_in_browser).
KERNEL = """async ([path, code]) => {
  const panel = Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === path);
  const future = panel.sessionContext.session.kernel.requestExecute({code, store_history: false});
  let out = '';
  future.onIOPub = msg => { if (msg.header.msg_type === 'stream') out += msg.content.text; };
  await future.done;
  return out;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(home: Path, root: Path):
    """JupyterLab from this venv on `root`, with its own config and settings folders."""
    settings = home / "settings"
    for name, content in {
        "config/labconfig/page_config.json":
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}},
        "settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none"},
    }.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(json.dumps(content))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JAX_PLATFORMS="cpu")
    port, token = free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # a container or CI box: benchmark only
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed with the process)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            return server, url, token
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"JupyterLab did not start; see {home / 'server.log'}")


def write_notebook(path: Path, figures) -> None:
    cells = [nbformat.v4.new_code_cell(SETUP)]
    cells += [nbformat.v4.new_code_cell(code) for _, code in figures]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def compiles(page) -> int:
    return int(page.evaluate(KERNEL, ["latency.ipynb", "print(len(COMPILES))"]))


def measure(page, cell, presses: int, button: str | None = None) -> tuple[list[float], int]:
    """keydown -> repainted frame (ms) for `presses` arrow keys on the first slider of
    `cell`, alternating direction every 4 presses (or Enter on the button labelled
    `button`); the first press is a warm-up. Also returns the compilations after it."""
    if button is None:
        handle = cell.locator(".widget-slider .noUi-handle").first
    else:
        handle = cell.locator("button.jupyter-button", has_text=button).first
    canvas = cell.locator(".jupyter-matplotlib-canvas-div canvas").first
    handle.scroll_into_view_if_needed()
    times = []
    for k in range(presses + 1):
        key = "Enter" if button else "ArrowRight" if (k // 4) % 2 == 0 else "ArrowLeft"
        page.evaluate(SETTLE, [canvas.element_handle(), QUIET])
        page.evaluate(ARM, [handle.element_handle(), canvas.element_handle()])
        handle.press(key)
        latency = page.evaluate("window.gvFrame")
        if k == 0:
            page.evaluate(SETTLE, [canvas.element_handle(), QUIET])
            before = compiles(page)
        else:
            times.append(np.nan if latency is None else latency)
    return times, compiles(page) - before


def drag(page, cell, moves: int = 30) -> float | None:
    """A fast drag of the first slider's handle to the right end of its track, then to
    the left end (`moves` mouse moves 16 ms apart, about half a second), then release:
    the ms from the release to the figure's last repaint (a backlog of stale frames would
    keep repainting after it)."""
    track = cell.locator(".widget-slider .noUi-target").first
    handle = cell.locator(".widget-slider .noUi-handle").first
    canvas = cell.locator(".jupyter-matplotlib-canvas-div canvas").first
    handle.scroll_into_view_if_needed()
    page.evaluate(SETTLE, [canvas.element_handle(), QUIET])
    box, knob = track.bounding_box(), handle.bounding_box()
    x, y = knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2
    right, left = box["x"] + box["width"] + 20, box["x"] - 20
    path = np.concatenate([np.linspace(x, right, moves // 3), np.linspace(right, left,
                                                                          moves - moves // 3)])
    page.evaluate(DRAG_WATCH, [canvas.element_handle(), QUIET])
    page.mouse.move(x, y)
    page.mouse.down()
    for target in path:
        page.mouse.move(float(target), y)
        page.wait_for_timeout(16)
    page.mouse.up()
    return page.evaluate("window.gvSettled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=24, help="arrow keys per figure")
    parser.add_argument("--only", nargs="*", help="names of the figures to measure")
    args = parser.parse_args()
    figures = [f for f in FIGURES if not args.only or f[0] in args.only or
               f[0].startswith("floor")]
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="gradviz-latency-"))
    root = home / "notebooks"
    root.mkdir()
    write_notebook(root / "latency.ipynb", figures)
    server, url, token = start_lab(home, root)
    results, drags = {}, {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/latency.ipynb?token={token}")
            page.wait_for_function(IDLE, arg="latency.ipynb", timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            for i in range(1, len(figures) + 1):
                canvas = cells.nth(i).locator(".jupyter-matplotlib-canvas-div canvas").first
                canvas.wait_for(state="visible", timeout=600_000)
            page.wait_for_timeout(2000)
            compiled = 0
            for i, (name, _) in enumerate(figures, start=1):
                results[name], count = measure(page, cells.nth(i), args.presses,
                                               BUTTON.get(name))
                compiled += count
                if name not in BUTTON:
                    drags[name] = [drag(page, cells.nth(i)) for _ in range(3)]
                print(f"  measured {name}", file=sys.stderr)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    floor = np.nanmedian(results["floor: blitting"])
    print(f"keydown -> repainted figure, {args.presses} presses each, ms "
          f"(median, p95, worst; x = median / blitting floor); {os.cpu_count()} cores")
    for name, times in results.items():
        t = np.asarray(times, dtype=float)
        lost = int(np.isnan(t).sum())
        print(f"  {name:22s} median {np.nanmedian(t):6.1f}  p95 {np.nanpercentile(t, 95):6.1f}"
              f"  worst {np.nanmax(t):6.1f}  x{np.nanmedian(t) / floor:4.1f}"
              + (f"  ({lost} presses never repainted)" if lost else ""))
    explorers = np.concatenate([np.asarray(t, dtype=float) for n, t in results.items()
                                if not n.startswith("floor")] or [np.zeros(0)])
    if explorers.size:
        print(f"  {'all explorers':22s} median {np.nanmedian(explorers):6.1f}  "
              f"p95 {np.nanpercentile(explorers, 95):6.1f}")
    print(f"compilations while the sliders moved (after each figure's warm-up press): "
          f"{compiled}")
    print("a fast drag over the whole slider and back (3 drags each): ms from the release "
          "to the figure's last repaint")
    for name, settled in drags.items():
        print(f"  {name:22s} " + "  ".join("never still" if t is None else f"{t:6.0f}"
                                            for t in settled))


if __name__ == "__main__":
    main()
