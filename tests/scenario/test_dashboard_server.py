"""The dashboard over real HTTP on 127.0.0.1 (issue 21), on the scenario harness: the
controller on the memory store and platform, a fake clock, and the dashboard's
server on a free port reading the same store.

A promote through the dashboard advances a paused release, with the CLI's words; a
forged POST (no CSRF token, another origin, another Host) and any POST to a
read-only dashboard are refused and write nothing; abort asks first; a change in the
store reaches an open event stream within a second."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from rollout.api import durations
from rollout.api.release import Phase, Verdict
from rollout.cli.dashboard import background, guard, server, source

if TYPE_CHECKING:  # the scenario harness (tests/scenario/conftest.py), for types only
    from scenarioenv import Env

GATED = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
PROMOTE = "/ns/default/services/web/promote"
ABORT = "/ns/default/services/web/abort"


def paused_release(env: Env) -> str:
    """web released under a policy of pause steps, paused at the first one."""
    env.apply(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "RolloutPolicy",
            "metadata": {"name": "gated"},
            "spec": {"steps": GATED, "progressDeadline": "5m"},
        }
    )
    env.apply(env.service(policy="gated"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    env.apply(env.service(policy="gated", version="v2"))
    env.until(lambda: env.releases(), within=10)
    name = env.releases()[0].metadata.name
    env.until(lambda: env.get_release(name).status.phase is Phase.PAUSED, within=30)
    return name


class Client:
    """HTTP to the dashboard, as a browser on its page would send it (or not)."""

    def __init__(self, running: background.Running) -> None:
        self.port = running.port
        self.csrf = running.dashboard.guard.csrf

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            body = urlencode(form) if form is not None else None
            sent = {"Accept": "application/json"} if method == "POST" else {}
            if body is not None:
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers={**sent, **(headers or {})})
            answer = conn.getresponse()
            return answer.status, answer.read().decode()
        finally:
            conn.close()

    def post(self, path: str, **form: str) -> tuple[int, Any]:
        origin = {"Origin": f"http://127.0.0.1:{self.port}", "Sec-Fetch-Site": "same-origin"}
        status, text = self.request("POST", path, form=form, headers=origin)
        return status, json.loads(text) if text.startswith("{") else text


@pytest.fixture
def dashboard(env: Env) -> Iterator[Callable[..., tuple[background.Running, Client]]]:
    started: list[background.Running] = []

    def start(*, read_only: bool = False) -> tuple[background.Running, Client]:
        src = source.Source(env.store, clock=env.clock, namespace=None)
        board = server.Dashboard(
            src, guard=guard.Guard("127.0.0.1", 0), read_only=read_only, by="browser", tick=0.5
        )
        running = background.start(board, "127.0.0.1", 0)
        started.append(running)
        return running, Client(running)

    yield start
    for running in started:
        running.stop()


def test_a_promote_through_the_dashboard_advances_a_paused_release(env: Env, dashboard) -> None:
    """The page offers Promote with the step it shows; the POST writes the CLI's
    intent, answers with the CLI's line, and the controller moves to the next step."""
    name = paused_release(env)
    _, client = dashboard()
    status, page = client.request("GET", "/")
    assert status == 200
    assert f'action="{PROMOTE}"' in page
    assert '<input type="hidden" name="step" value="1">' in page
    assert f'content="{client.csrf}"' in page

    status, answer = client.post(PROMOTE, csrf=client.csrf, step="1")
    assert (status, answer) == (
        200,
        {"ok": True, "message": f"release {name}: promotion from step 2 requested"},
    )
    request = env.get_release(name).spec.promote
    assert request is not None
    assert (request.from_step, request.requested_by) == (1, "browser")

    env.advance(30)
    rel = env.get_release(name)
    assert (rel.status.phase, rel.status.step_index) == (Phase.PAUSED, 3)
    assert env.split() == {"web-00001": 50, "web-00002": 50}

    # the same click again, from the page as it was: the CLI's "already past", exit 0
    status, answer = client.post(PROMOTE, csrf=client.csrf, step="1")
    assert status == 200
    assert answer["ok"] is True
    assert answer["message"].startswith(f"release {name}: already past step 2")
    assert env.get_release(name).status.step_index == 3


@pytest.mark.parametrize(
    ("form", "headers", "expected"),
    [
        pytest.param({}, {}, 403, id="no-csrf-token"),
        pytest.param({"csrf": "guessed"}, {}, 403, id="wrong-csrf-token"),
        pytest.param({"csrf": "<real>"}, {"Origin": "http://evil.example"}, 403, id="other-origin"),
        pytest.param({"csrf": "<real>"}, {"Sec-Fetch-Site": "cross-site"}, 403, id="cross-site"),
        pytest.param({"csrf": "<real>"}, {"Host": "evil.example:80"}, 421, id="rebound-host"),
    ],
)
def test_a_forged_post_is_refused_and_writes_nothing(
    env: Env, dashboard, form: dict[str, str], headers: dict[str, str], expected: int
) -> None:
    name = paused_release(env)
    _, client = dashboard()
    before = env.get_release(name).metadata.resource_version
    form = {k: client.csrf if v == "<real>" else v for k, v in form.items()}
    status, _ = client.request("POST", PROMOTE, form={**form, "step": "1"}, headers=headers)
    assert status == expected
    assert env.get_release(name).metadata.resource_version == before
    assert env.get_release(name).spec.promote is None


def test_a_get_never_acts(env: Env, dashboard) -> None:
    name = paused_release(env)
    _, client = dashboard()
    status, _ = client.request("GET", f"{PROMOTE}?csrf={client.csrf}&step=1")
    assert status == 405
    assert env.get_release(name).spec.promote is None


def test_a_read_only_dashboard_has_no_button_and_refuses_posts(env: Env, dashboard) -> None:
    name = paused_release(env)
    _, client = dashboard(read_only=True)
    status, page = client.request("GET", "/")
    assert status == 200
    assert "<form" not in page
    assert 'data-phase="Paused"' in page
    status, answer = client.post(PROMOTE, csrf=client.csrf, step="1")
    assert (status, answer["ok"]) == (403, False)
    assert "read-only" in answer["message"]
    assert env.get_release(name).spec.promote is None


def test_abort_asks_first_then_acts_on_the_confirmation(env: Env, dashboard) -> None:
    name = paused_release(env)
    _, client = dashboard()
    status, answer = client.post(ABORT, csrf=client.csrf)
    assert status == 200
    assert answer == {
        "confirm": f"Abort release {name}? All traffic goes back to web-00001 at once."
    }
    assert env.get_release(name).spec.abort is False
    status, answer = client.post(ABORT, csrf=client.csrf, confirm="yes")
    assert (status, answer["message"]) == (
        200,
        f"release {name}: abort requested; traffic goes back to web-00001",
    )
    assert env.get_release(name).spec.abort is True


def test_a_command_that_does_not_apply_says_why_as_the_cli(env: Env, dashboard) -> None:
    """409 and the CLI's error line; nothing written."""
    name = paused_release(env)
    _, client = dashboard()
    status, answer = client.post("/ns/default/services/web/resume", csrf=client.csrf)
    assert (status, answer) == (
        409,
        {"ok": False, "message": f"release {name} waits at a pause step: use `rollout promote`"},
    )
    status, answer = client.post("/ns/default/services/nope/pause", csrf=client.csrf)
    assert (status, answer["message"]) == (409, "service 'nope' not found in namespace default")


def test_the_release_page_charts_each_revisions_weight(env: Env, dashboard) -> None:
    name = paused_release(env)
    _, client = dashboard()
    status, page = client.request("GET", "/ns/default/services/web")
    assert status == 200
    assert f"Release {name}" in page
    assert re.findall(r'<path class="series (\w+)" data-series="([^"]+)"', page) == [
        ("stable", "web-00001"),
        ("canary", "web-00002"),
    ]
    if shutil.which("dot") is not None:  # the state machine, drawn by Graphviz
        assert re.findall(r'class="node current" data-phase="(\w+)"', page) == ["Paused"]
    else:
        assert "The diagram needs Graphviz" in page
    status, fragment = client.request("GET", "/ns/default/services/web?fragment=1")
    assert status == 200
    assert not fragment.startswith("<!doctype")
    assert 'data-frag="weights"' in fragment


def test_a_change_in_the_store_reaches_an_open_stream_within_a_second(env: Env, dashboard) -> None:
    """The poller sees the write and the stream says `change`."""
    name = paused_release(env)
    running, client = dashboard()
    status, page = client.request("GET", "/")  # the first look taken: no change pending
    assert status == 200
    assert 'data-action="pause"' in page
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=5)
    conn.request("GET", "/events")
    stream = conn.getresponse()
    assert stream.status == 200
    assert stream.getheader("Content-Type") == "text/event-stream"
    assert stream.readline() == b"event: hello\n"
    stream.readline(), stream.readline()
    env.patch_release(name, paused=True)  # as `rollout pause` writes it
    changed = time.monotonic()
    while True:
        line = stream.readline()
        if line == b"event: change\n":
            break
        assert time.monotonic() - changed < 1.0, "no change event within a second"
    assert time.monotonic() - changed < 1.0
    conn.close()
    status, page = client.request("GET", "/")
    assert status == 200
    assert 'data-action="pause"' not in page  # "pause already requested": no button
    _ = running


def test_static_files_come_from_the_package(env: Env, dashboard) -> None:
    env.advance(1)
    _, client = dashboard()
    status, script = client.request("GET", "/static/dashboard.js")
    assert status == 200
    assert "EventSource" in script
    assert client.request("GET", "/static/../../etc/passwd")[0] == 404


ANALYSED = [{"setWeight": 20}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}]
METRICS = {
    "interval": "10s",
    "metrics": [
        {
            "name": "errors-vs-stable",
            "provider": {"local": {"stat": "errors"}},
            "compare": {"against": "stable", "method": "sequential", "alpha": 0.01},
        },
        {
            "name": "error-rate",
            "provider": {"local": {"stat": "error_rate"}},
            "thresholds": {"max": 0.05},
        },
    ],
}


def test_readings_taken_before_the_dashboard_started_are_charted(env: Env, dashboard) -> None:
    """The release keeps each metric's last readings: a dashboard started after them
    charts every one — the e-value against 1/alpha, the rate against its max."""
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
    env.apply(env.service(policy="analysed", version="v2"))
    env.until(lambda: env.releases(), within=10)
    name = env.releases()[0].metadata.name
    for _ in range(6):  # measured with no dashboard looking
        env.advance(10)
    kept = {m.metric: m.recent for m in env.get_release(name).status.analysis}
    assert len(kept["errors-vs-stable"]) >= 3
    assert all(r.verdict is Verdict.PASSED for r in kept["error-rate"])

    _, client = dashboard(read_only=True)
    status, html = client.request("GET", "/ns/default/services/web")
    assert status == 200
    sections = html.split('<section class="metric"')[1:]
    drawn = {
        re.findall(r'data-metric="([\w-]+)"', part)[0]: len(re.findall(r'class="reading v-', part))
        for part in sections
    }
    assert drawn == {metric: len(readings) for metric, readings in kept.items()}
    assert 'data-gate="line" data-value="100"' in html  # 1/alpha
    assert 'data-gate="max" data-value="0.05"' in html
    assert "as the release keeps them" in html


def test_without_the_script_the_forms_answer_with_pages(env: Env, dashboard) -> None:
    """A browser without JavaScript: abort answers with the question as a form
    (confirm=yes), then with the CLI's line as a page."""
    name = paused_release(env)
    _, client = dashboard()
    origin = {"Origin": f"http://127.0.0.1:{client.port}", "Accept": "text/html"}
    status, page = client.request("POST", ABORT, form={"csrf": client.csrf}, headers=origin)
    assert status == 200
    assert f"Abort release {name}?" in page
    assert '<input type="hidden" name="confirm" value="yes">' in page
    assert f'action="{ABORT}"' in page
    assert env.get_release(name).spec.abort is False
    form = {"csrf": client.csrf, "confirm": "yes"}
    status, page = client.request("POST", ABORT, form=form, headers=origin)
    assert status == 200
    assert f"release {name}: abort requested; traffic goes back to web-00001" in page
    assert env.get_release(name).spec.abort is True


@pytest.mark.parametrize("step", ["-1", "one", "١"], ids=["negative", "word", "arabic-digit"])
def test_a_step_that_is_not_a_step_number_is_refused(env: Env, dashboard, step: str) -> None:
    name = paused_release(env)
    _, client = dashboard()
    status, answer = client.post(PROMOTE, csrf=client.csrf, step=step)
    assert (status, answer["ok"]) == (400, False)
    assert env.get_release(name).spec.promote is None


def test_the_time_in_step_moves_on_without_a_change_in_the_store(env: Env, dashboard) -> None:
    """A page drawn again (the stream's tick) shows the time in step of now, not of
    the snapshot."""
    paused_release(env)
    _, client = dashboard()

    def in_step() -> str:
        _, page = client.request("GET", "/?fragment=1")
        found = re.search(r'<span class="in-step">([^<]+) in step</span>', page)
        assert found is not None
        return found[1]

    before = in_step()
    env.clock.advance(timedelta(seconds=90))  # time only: nothing written
    after = in_step()
    assert before != after
    assert durations.parse_duration(after) - durations.parse_duration(before) == timedelta(
        seconds=90
    )


def test_a_release_is_found_by_name_and_an_unknown_one_is_said(env: Env, dashboard) -> None:
    name = paused_release(env)
    _, client = dashboard()
    status, page = client.request("GET", f"/ns/default/services/web?release={name}")
    assert status == 200
    assert f"Release {name}" in page
    status, page = client.request("GET", "/ns/default/services/web?release=web-00009")
    assert status == 200
    assert "service web: release &#x27;web-00009&#x27;" in page
    status, _ = client.request("GET", "/ns/default/services/nope")
    assert status == 404
