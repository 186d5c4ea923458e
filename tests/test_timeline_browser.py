"""The timeline page in a real browser: headless Chromium driven by Selenium
against the real app served on 127.0.0.1 over the seeds' log.

What only a browser can show: the inline script runs under the page's CSP
and rewrites the times into the reader's zone (here America/New_York, set
through the DevTools protocol), the page still reads without JavaScript,
the skip link appears on focus with a visible outline, and nothing overflows
at 320 CSS pixels. A full-page screenshot is left in `var/test-artifacts/`
(or `$AGGREGATOR_TEST_ARTIFACTS`) for a person to look at.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them);
without them the test skips and says so. Selenium is pointed at both
binaries, so it never looks for (or downloads) a driver of its own.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.publish import catalog
from tests.conftest import Project
from tests.support import REPO, ManualClock
from tests.test_timeline import READABLE_UTC, SEED_UPDATES, served_seeds

ARTIFACTS_ENV = "AGGREGATOR_TEST_ARTIFACTS"
ZONE = "America/New_York"
DESKTOP = (1024, 800)
NARROW = 320


def _binaries() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip naming what is missing and how to get it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if missing or browser is None or driver is None:
        pytest.skip(
            f"the browser test needs {' and '.join(missing)} on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    return browser, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, chromedriver = _binaries()
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=chromedriver)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts() -> Path:
    directory = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "var" / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def full_page_png(driver: Any) -> bytes:
    """The whole page, not only the window, through the DevTools protocol."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    return base64.b64decode(shot["data"])


def by_css(driver: Any, selector: str) -> list[Any]:
    return list(driver.find_elements("css selector", selector))


def check_page_content(driver: Any, digest: str) -> None:
    """What the page shows with or without its script: every update, the story grouped."""
    assert len(by_css(driver, "article")) == SEED_UPDATES
    for landmark in ("header", "nav", "main", "footer"):
        assert len(by_css(driver, landmark)) == 1, landmark
    assert [h.text for h in by_css(driver, "h1")] == ["Test feed"]
    (story,) = by_css(driver, "section.story")
    assert story.get_dom_attribute("id") == digest
    assert story.find_element("css selector", "h3").text.startswith("Reported by 2 outlets")
    outlets = [a.text for a in story.find_elements("css selector", "article .meta a")]
    assert outlets == ["The Daily Knight", "Al Jazeera"]
    feeds = [a.get_dom_attribute("href") for a in story.find_elements("css selector", "a")]
    assert f"/stories/{digest}.atom" in feeds
    skip = by_css(driver, "body > a")[0]
    assert skip.get_dom_attribute("href") == "#main" and skip.text == ""  # off-screen


def murovdag_time(driver: Any) -> Any:
    (article,) = (
        a
        for a in by_css(driver, "section.story article")
        if "Al Jazeera" in a.find_element("css selector", ".meta").text
    )
    return article.find_element("css selector", "time")


def test_the_timeline_in_chromium(
    project: Project, clock: ManualClock, browser: Any, artifacts: Path
) -> None:
    keys = pytest.importorskip("selenium.webdriver.common.keys").Keys
    with served_seeds(project, clock) as site:
        (story,) = {e.story for e in site.session.store.read_model.entries() if e.story}
        digest = catalog.story_name(story)
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
        browser.get(site.base + "/")
        assert browser.title == "Test feed"
        check_page_content(browser, digest)

        # The script ran (under the CSP) and put every time in the reader's zone.
        time = murovdag_time(browser)
        assert time.get_dom_attribute("datetime") == "2020-09-27T15:43:00Z"
        assert "11:43" in time.text and "UTC" not in time.text, time.text
        assert time.get_dom_attribute("title") == "27 Sep 2020, 15:43 UTC"
        assert all(not t.text.endswith(" UTC") for t in by_css(browser, "time"))
        assert browser.find_element("id", "time-note").text == (
            f"Times are in your time zone ({ZONE})."
        )
        # A CSP refusal of the script or style would show here (the browser's
        # own request for /favicon.ico, which the app does not serve, is no error of the page).
        errors = [
            e
            for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and "/favicon.ico" not in e["message"]
        ]
        assert errors == [], errors

        # Keyboard: the first Tab reaches the skip link, which shows itself with an outline.
        browser.find_element("css selector", "body").send_keys(keys.TAB)
        focused = browser.switch_to.active_element
        assert focused.text == "Skip to the updates"
        rect = focused.rect
        assert rect["x"] >= 0 and rect["y"] >= 0 and rect["width"] > 0
        outline = browser.execute_script(
            "var s = getComputedStyle(document.activeElement);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)];"
        )
        assert outline[0] != "none" and outline[1] >= 2, outline
        focused.send_keys(keys.ENTER)
        assert browser.current_url.endswith("/#main")

        shot = full_page_png(browser)
        (artifacts / "timeline.png").write_bytes(shot)

        # 320 CSS pixels wide: nothing scrolls sideways.
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": NARROW, "height": 640, "deviceScaleFactor": 1, "mobile": True},
        )
        browser.get(site.base + "/")
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];"
        )
        assert widths[0] <= widths[1] == NARROW, widths
        (artifacts / "timeline-320.png").write_bytes(browser.get_screenshot_as_png())
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

        # Without JavaScript: the same updates, the times in UTC, and the page says so.
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        browser.get(site.base + "/")
        check_page_content(browser, digest)
        assert all(READABLE_UTC.fullmatch(t.text) for t in by_css(browser, "time"))
        assert murovdag_time(browser).text == "27 Sep 2020, 15:43 UTC"
        assert browser.find_element("id", "time-note").text == (
            "All times are in UTC (Coordinated Universal Time)."
        )

    saved = (artifacts / "timeline.png").read_bytes()
    width, height = png_size(saved)
    assert width >= DESKTOP[0] - 20 and height > 4 * DESKTOP[1], (width, height)
    assert len(saved) > 100_000
    assert png_size((artifacts / "timeline-320.png").read_bytes())[0] == NARROW
