"""How learners launch the notebooks: Binder's environment, built as binder/ describes it,
and `make lab`, which keeps Jupyter's token login and listens on localhost only.

The Binder test builds a fresh venv in a temporary folder with the Python version of
binder/runtime.txt, installs binder/requirements.txt with pip, then runs binder/postBuild
on a copy of the repository (as repo2docker does); it imports gradviz there and asks
Jupyter which server and JupyterLab extensions are enabled. About a minute with a warm pip
cache; it needs the package index (or its mirror), as `make setup` does.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BINDER = ROOT / "binder"
README = (ROOT / "README.md").read_text()


def run(command, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def plain(text: str) -> str:
    """Text without the terminal colour codes Jupyter's listings use."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def binder_python() -> str:
    """An interpreter of the version binder/runtime.txt names (python-3.X)."""
    found = re.fullmatch(r"python-(\d+)\.(\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert found, "binder/runtime.txt must read python-3.X"
    version = (int(found.group(1)), int(found.group(2)))
    if sys.version_info[:2] == version:
        return sys.executable
    other = shutil.which(f"python{version[0]}.{version[1]}")
    if other is None:
        message = f"no python{version[0]}.{version[1]} to build the Binder environment with"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return other


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """(bin folder, environment) of a venv built the way Binder builds binder/."""
    home = tmp_path_factory.mktemp("binder")
    repo = home / "repo"  # repo2docker works on a copy of the repository
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
        "test-artifacts", ".ipynb_checkpoints"))
    venv = home / "venv"
    run([binder_python(), "-m", "venv", str(venv)], timeout=120)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JAX_PLATFORMS="cpu")
    # --no-compile: no .pyc for the ~100 packages (a third of the install's time here);
    # Python compiles what the tests import
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-compile", "-r",
         repo / "binder" / "requirements.txt"], env=env, timeout=600)
    postbuild = repo / "binder" / "postBuild"
    run([postbuild], env=env, cwd=home, timeout=300)
    return bin_dir, env, repo


def test_postbuild_is_an_executable_script_that_stops_on_errors():
    postbuild = BINDER / "postBuild"
    assert os.access(postbuild, os.X_OK), "binder/postBuild must be executable"
    text = postbuild.read_text()
    assert text.startswith("#!/bin/bash") or text.startswith("#!/usr/bin/env bash")
    assert re.search(r"^set -e", text, re.M), "binder/postBuild must stop at the first error"
    assert "pip install" in text and "-e ." in text  # installs gradviz itself


@pytest.mark.binder
def test_binder_environment_imports_gradviz_with_the_pinned_versions(binder_env):
    bin_dir, env, repo = binder_env
    out = run([bin_dir / "python", "-c",
               "import gradviz, jax; from gradviz.widgets import FlowExplorer; "
               "print(gradviz.__file__); print(jax.__version__)"], env=env, timeout=300,
              cwd=repo.parent).stdout  # not the repository: sys.path starts with the cwd
    module, jax_version = out.split()
    assert Path(module).is_relative_to(repo), module  # the copy postBuild installed
    frozen = run([bin_dir / "python", "-m", "pip", "freeze"], env=env, timeout=60).stdout
    installed = {line.split("==")[0].lower(): line.split("==")[1] for line in
                 frozen.splitlines() if "==" in line}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            assert installed.get(name.lower()) == version, (name, installed.get(name.lower()))
    assert installed["jax"] == jax_version


@pytest.mark.binder
def test_binder_environment_enables_jupyterlab_ipywidgets_and_ipympl(binder_env):
    bin_dir, env, _ = binder_env
    server = run([bin_dir / "jupyter", "server", "extension", "list"], env=env, timeout=120)
    text = plain(server.stdout + server.stderr)
    assert re.search(r"^\s*jupyterlab enabled$", text, re.M), text
    assert re.search(r"^\s*jupyterlab [\d.]+ OK$", text, re.M), text  # validated: it loads
    lab = run([bin_dir / "jupyter", "labextension", "list"], env=env, timeout=120)
    text = plain(lab.stdout + lab.stderr)
    for extension in ("@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib"):
        line = re.search(rf"^\s*{re.escape(extension)} v\S+ (\w+) (\w+)", text, re.M)
        assert line and line.groups() == ("enabled", "OK"), (
            f"{extension} is not enabled in the Binder environment:\n{text}")


@pytest.mark.binder
def test_binder_environment_installs_the_quiet_lab_settings(binder_env):
    import json

    bin_dir, _, _ = binder_env
    installed = bin_dir.parent / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert installed.exists(), "binder/postBuild did not install binder/overrides.json"
    assert json.loads(installed.read_text()) == json.loads((BINDER / "overrides.json").read_text())


def test_readme_binder_link_opens_jupyterlab_on_the_first_chapter():
    links = re.findall(r"https://mybinder\.org/v2/gh/[^\s)]+", README)
    assert links, "README.md has no Binder link"
    first = sorted((ROOT / "notebooks").glob("*.ipynb"))[0]
    for link in links:
        found = re.fullmatch(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+"
                             r"\?urlpath=lab/tree/(?P<path>[\w./-]+)", link)
        assert found, f"the README's Binder link must open JupyterLab on a notebook: {link}"
        assert (ROOT / found.group("path")).is_file(), f"{link}: no such notebook"
        assert found.group("path") == f"notebooks/{first.name}", link


# ------------------------------------------------------------------------------ make lab


def lab_recipe() -> str:
    """The commands of the Makefile's lab target (the tab-indented lines under `lab:`)."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^lab:.*\n((?:\t.*\n)+)", text, re.M)
    assert found, "the Makefile has no lab target"
    return found.group(1)


def test_make_lab_keeps_token_login_and_listens_on_localhost_only():
    recipe = lab_recipe()
    assert "jupyter lab" in recipe or "jupyter-lab" in recipe, recipe
    ips = re.findall(r"--(?:ServerApp\.|NotebookApp\.)?ip[= ](\S+)", recipe)
    assert ips and all(ip.strip("'\"") in ("127.0.0.1", "localhost") for ip in ips), recipe
    forbidden = [
        r"--allow-root", r"allow_root", r"token\s*=\s*(''|\"\"|\s|$)",
        r"--(ServerApp|NotebookApp|IdentityProvider)\.token\b", r"--(ServerApp|NotebookApp)\."
        r"password\b", r"disable_check_xsrf", r"allow_origin", r"--ip[= ]0\.0\.0\.0",
        r"--no-browser.*token", r"--(ServerApp\.)?allow_remote_access",
    ]
    for pattern in forbidden:
        assert not re.search(pattern, recipe), f"`make lab` must not use {pattern}: {recipe}"


@pytest.mark.parametrize("bad", [
    "\t$(BIN)/jupyter lab --allow-root notebooks/\n",
    "\t$(BIN)/jupyter lab --ServerApp.ip=0.0.0.0 notebooks/\n",
    "\t$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --IdentityProvider.token= notebooks/\n",
    "\t$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.token='' notebooks/\n",
    "\t$(BIN)/jupyter lab notebooks/\n",  # no explicit localhost
])
def test_the_make_lab_check_catches_unsafe_recipes(bad, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "lab_recipe", lambda: bad)
    with pytest.raises(AssertionError):
        test_make_lab_keeps_token_login_and_listens_on_localhost_only()


def test_the_projects_jupyterlab_neither_asks_about_news_nor_checks_for_updates(tmp_path):
    """`make setup` installs binder/overrides.json as this venv's JupyterLab defaults: the
    running server (as `make lab` starts it) reports fetchNews "false" (so no "Would you
    like to get notified about official Jupyter news?" prompt), no update check, and no
    widget messages on kernel subshells (threads, where matplotlib's drawing races)."""
    import json
    import secrets
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "d"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "r"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"))  # no user settings
    command = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:{{}}?token={token}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url.format("notification"), timeout=10) as response:
                    schema = json.load(response)["schema"]["properties"]
                with urllib.request.urlopen(url.format("kernels-settings"), timeout=10) as response:
                    kernels = json.load(response)["schema"]["properties"]
                break
            except OSError:
                assert server.poll() is None, "JupyterLab exited"
                assert time.monotonic() < deadline, "JupyterLab did not answer in 90 s"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
    assert schema["fetchNews"]["default"] == "false", (
        "run `make setup`: it installs binder/overrides.json into the venv")
    assert schema["checkForUpdates"]["default"] is False
    # widget messages on the main thread: matplotlib is not thread-safe (ipympl issue #610)
    assert kernels["commsOverSubshells"]["default"] == "disabled"
