"""Headless Chromium through Selenium, for the tests of our HTML pages (labelling page, demo
report). Needs Debian's `chromium` and `chromium-driver` (`make setup` installs them); a test
that needs the browser fails, not skips, when they are missing."""

from __future__ import annotations

import shutil

import pytest


def chromium_driver(window_size: str = "900,700"):  # noqa: ANN201 - selenium's WebDriver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail(
            "Chromium is missing: run `make sysdeps` (or apt-get install -y chromium"
            " chromium-driver); the browser tests need it"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={window_size}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)
