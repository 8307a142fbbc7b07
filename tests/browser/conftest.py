"""A real browser for the console: headless Chromium from Debian (``chromium`` and
``chromium-driver``), driven by selenium; the tests skip, saying why, where it is missing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MASKLINE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MASKLINE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
# Where the run saves its screenshots: docs/console.md's come from a run with
# MASKLINE_SCREENSHOTS=docs/console; any other run keeps them out of the working tree.
SCREENSHOTS = Path(os.environ.get("MASKLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="maskline-screenshots-"))


def _missing() -> str:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) and shutil.which(path) is None:
            return f"the browser tests need {path} (Debian: apt-get install {package})"
    return ""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium at a desktop width; each test starts without cookies."""
    if reason := _missing():
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root (CI containers), where the sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=0.8",  # smaller screenshots, still readable
        "--window-size=1000,760",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """The whole page, as docs/console.md shows it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(int(height) + 120, 400), 2400))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
