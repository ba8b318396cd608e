"""The dashboard in a real headless Chromium (issue 21), driven through chromedriver's
WebDriver protocol (`tests/webdriver.py`), on the scenario harness: the controller
on the memory store and platform, the dashboard's server reading the same store.

Without the Debian packages `chromium` and `chromium-driver` these tests are skipped
— and fail under `CI=true`, where they must run.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import webdriver
from test_dashboard_server import ANALYSED, METRICS, dashboard, paused_release

if TYPE_CHECKING:  # the scenario harness (tests/scenario/conftest.py), for types only
    from scenarioenv import Env

__all__ = ["dashboard"]  # the fixture, shared with the HTTP tests

CARD = '[data-service="web"]'


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Browser]:
    absent = webdriver.missing()
    if absent is not None:
        message = f"{absent} is not installed (Debian: chromium, chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    started = webdriver.Browser.start()
    yield started
    started.close()


def live(browser: webdriver.Browser) -> None:
    """Wait for the page's event stream, and mark the page: a reload loses the mark."""
    browser.wait(
        "return document.getElementById('live').classList.contains('on')",
        what="the page's event stream",
    )
    browser.run("window.__same_page = true")


def test_a_promote_click_moves_the_page_without_reload(
    env: Env, dashboard, browser: webdriver.Browser
) -> None:
    """Promote on the paused card: the CLI's line in the flash, then the next step and
    the new weights on the same page once the controller moved."""
    name = paused_release(env)
    running, _ = dashboard()
    browser.open(running.url + "/")
    live(browser)
    [step] = browser.find(f"{CARD} .step")
    assert browser.text(step) == "step 2/4"
    [button] = browser.find(f'{CARD} button[data-action="promote"]')
    browser.click(button)
    said = browser.wait(
        "return document.getElementById('flash').textContent", what="the command's answer"
    )
    assert said == f"release {name}: promotion from step 2 requested"
    env.advance(30)  # the controller takes the promote: setWeight 50, then the next pause
    browser.wait(
        f"return document.querySelector('{CARD} .step').textContent === 'step 4/4'"
        f" && document.querySelector('{CARD} .split').textContent.includes('web-00002 50%')",
        within=3,
        what="the next step and its weights, pushed",
    )
    assert browser.run("return window.__same_page") is True


def test_the_weights_move_on_the_release_page_without_reload(
    env: Env, dashboard, browser: webdriver.Browser
) -> None:
    """The step chart has a series per revision, redrawn when the weights change."""
    name = paused_release(env)
    running, client = dashboard()
    browser.open(running.url + "/ns/default/services/web")
    live(browser)
    series = browser.run(
        "return Array.from(document.querySelectorAll('svg.weights path.series'),"
        " p => p.dataset.series)"
    )
    assert series == ["web-00001", "web-00002"]
    before = browser.run("return document.querySelector('path.series.canary').getAttribute('d')")
    status, _ = client.post("/ns/default/services/web/promote", csrf=client.csrf, step="1")
    assert status == 200
    env.advance(30)
    browser.wait(
        f"return document.querySelector('path.series.canary').getAttribute('d') !== {before!r}",
        within=3,
        what="the canary's line redrawn",
    )
    assert browser.run("return window.__same_page") is True
    assert env.get_release(name).status.step_index == 3


def test_read_only_has_no_button_and_a_post_from_the_page_is_refused(
    env: Env, dashboard, browser: webdriver.Browser
) -> None:
    name = paused_release(env)
    running, _ = dashboard(read_only=True)
    browser.open(running.url + "/")
    live(browser)
    assert browser.find("form.action") == []
    assert browser.find("button") == []
    status = browser.run(
        "return fetch('/ns/default/services/web/promote', {method: 'POST',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'step=1&csrf=' + document.querySelector('meta[name=csrf-token]').content})"
        ".then(r => r.status)"
    )
    assert status == 403
    assert env.get_release(name).spec.promote is None


def test_a_post_without_the_csrf_token_is_refused_from_the_page(
    env: Env, dashboard, browser: webdriver.Browser
) -> None:
    name = paused_release(env)
    running, _ = dashboard()
    browser.open(running.url + "/")
    live(browser)
    status = browser.run(
        "return fetch('/ns/default/services/web/promote', {method: 'POST',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'step=1'})"
        ".then(r => r.status)"
    )
    assert status == 403
    assert env.get_release(name).spec.promote is None


def test_the_e_value_chart_renders_with_its_threshold(
    env: Env, dashboard, browser: webdriver.Browser
) -> None:
    """A release with a sequential comparison: the readings it keeps, a line through
    them, and the 1/alpha line."""
    env.apply(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "RolloutPolicy",
            "metadata": {"name": "analysed"},
            "spec": {"steps": ANALYSED, "analysis": METRICS, "progressDeadline": "5m"},
        }
    )
    env.apply(env.service(policy="analysed"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    running, _ = dashboard()
    env.apply(env.service(policy="analysed", version="v2"))
    for _ in range(6):
        env.advance(10)
        time.sleep(0.4)  # the dashboard polls every 0.25 s: it sees each reading
    browser.open(running.url + "/ns/default/services/web")
    live(browser)
    chart = '[data-metric="errors-vs-stable"] svg.metric'
    drawn = browser.run(
        f"const svg = document.querySelector('{chart}');"
        " return {series: svg.querySelectorAll('path.series.value').length,"
        " readings: svg.querySelectorAll('.reading').length,"
        " gate: svg.querySelector('line.gate').dataset.value,"
        " width: svg.getBoundingClientRect().width}"
    )
    assert drawn["series"] == 1
    assert drawn["readings"] >= 3
    assert drawn["gate"] == "100"
    assert drawn["width"] > 300  # laid out, not collapsed


def test_screenshots_of_the_overview_and_a_release_page(
    env: Env, dashboard, browser: webdriver.Browser, tmp_path: pathlib.Path
) -> None:
    """A paused release and an analysed one, as a person sees them. With
    `ROLLOUT_SCREENSHOTS=DIR` the pictures are written there (`docs/` holds the ones
    the README shows), else in a temporary dir."""
    where = pathlib.Path(os.environ.get("ROLLOUT_SCREENSHOTS") or tmp_path)
    env.apply(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "RolloutPolicy",
            "metadata": {"name": "analysed"},
            "spec": {"steps": ANALYSED, "analysis": METRICS, "progressDeadline": "5m"},
        }
    )
    paused_release(env)  # web, paused at a pause step
    env.apply(env.service("search", policy="analysed"))
    env.until(lambda: "search-00001" in env.split("search"), within=10)
    running, _ = dashboard()
    env.apply(env.service("search", policy="analysed", version="v2"))
    for _ in range(5):  # into its analysis step, at 20%
        env.advance(10)
        time.sleep(0.4)  # each reading seen by the dashboard
    shots = {}
    pictures = (("overview", "/", 520), ("release", "/ns/default/services/search", 1500))
    try:
        for name, path, height in pictures:
            browser.resize(1100, height)
            browser.open(running.url + path)
            live(browser)
            shots[name] = where / f"dashboard-{name}.png"
            browser.screenshot(str(shots[name]))
    finally:
        browser.resize(1100, 1000)
    for shot in shots.values():
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000  # drawn, not blank
