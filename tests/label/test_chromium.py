"""End to end in headless Chromium: the page loads, the clips play, clicks and keys store labels.

Needs Debian's `chromium` and `chromium-driver` (`make setup` installs them). This test fails,
not skips, when they are missing: the labelling page is only tested here.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from robolearn.label import LabelLog, create_app
from tests.browser import chromium_driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, app) -> None:  # noqa: ANN001
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in 20 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_label_page_in_headless_chromium(pair_set, tmp_path):
    from selenium.webdriver.common.by import By

    log_path = tmp_path / "labels.jsonl"
    driver = chromium_driver()
    try:
        with _Server(create_app(pair_set, LabelLog(log_path), token="tok")) as server:
            url = f"http://127.0.0.1:{server.port}/?token=tok&labeller=tester"
            driver.get(url)
            body = driver.find_element(By.TAG_NAME, "body")
            _wait(lambda: body.get_attribute("data-pair") == "p0", what="the first pair")
            assert "Which robot does better?" in driver.find_element(By.ID, "question").text
            # both WebM clips decode in this Chromium (readyState >= 2: a frame is available)
            _wait(
                lambda: driver.execute_script(
                    "return [...document.querySelectorAll('video')]"
                    ".every(v => v.readyState >= 2 && v.videoWidth === 64);"
                ),
                what="both clips to decode",
            )
            driver.find_element(By.ID, "btn-left").click()
            _wait(lambda: body.get_attribute("data-pair") == "p1", what="the second pair")
            assert LabelLog(log_path).latest()["p0"].choice == "left"
            assert LabelLog(log_path).latest()["p0"].labeller == "tester"
            body.send_keys("d")  # keyboard shortcut: right
            _wait(lambda: body.get_attribute("data-pair") == "p2", what="the third pair")
            assert LabelLog(log_path).latest()["p1"].choice == "right"
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, f"browser console errors: {errors}"

        # a restarted server continues where the labeller stopped
        with _Server(create_app(pair_set, LabelLog(log_path), token="tok")) as server:
            driver.get(f"http://127.0.0.1:{server.port}/?token=tok")
            body = driver.find_element(By.TAG_NAME, "body")
            _wait(lambda: body.get_attribute("data-pair") == "p2", what="the resumed pair")
            assert "2 of 3" in driver.find_element(By.ID, "progress").text
            driver.find_element(By.ID, "btn-equal").click()
            _wait(lambda: body.get_attribute("data-state") == "done", what="the done state")
        latest = LabelLog(log_path).latest()
        assert {k: v.choice for k, v in latest.items()} == {
            "p0": "left",
            "p1": "right",
            "p2": "equal",
        }
    finally:
        driver.quit()
