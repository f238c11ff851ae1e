"""Fixtures for the control room: one headless Chromium for the whole session (Debian's chromium
and chromium-driver, driven by selenium), and a small show of our own on real sockets."""

from __future__ import annotations

import shutil

import pytest

from tests.control.publisher import Publisher


def _find(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium, shared by every test that needs a page (starting one costs ~2 s)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("chromium and chromium-driver are not installed: bash scripts/install.sh --test installs them")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1300", "--disable-extensions", "--no-first-run",
                "--disable-background-networking", "--disable-renderer-backgrounding",
                "--disable-background-timer-throttling"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def show(tmp_path):
    pub = Publisher(tmp_path / "show.scenes.toml").start()
    yield pub
    pub.close()
