"""Shared pytest setup: the markers of the slower, end-to-end tests (all run by `make test`;
deselect them locally with e.g. `make test PYTEST_ARGS='-m "not browser and not binder"'`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: JupyterLab driven in headless Chromium")
    config.addinivalue_line("markers", "binder: builds the Binder environment in a fresh venv")
