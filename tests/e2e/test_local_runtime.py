"""The local runtime with real processes and real HTTP: start, readiness, restarts,
crash loops, removal, shutdown without orphans, and adoption after a controller
restart.

Waits are on conditions with deadlines; every process is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rollout import files
from rollout.api import meta, names, revision, workload
from rollout.platforms import ports
from rollout.platforms.local import processes, runtime
from rollout.reconcilers import revision as revision_reconciler

T = TypeVar("T")

APP = r"""
import http.server, json, os, subprocess, sys, threading, time

if os.environ.get("EXIT_AT_START"):
    print("boom: " + os.environ["EXIT_AT_START"], file=sys.stderr, flush=True)
    sys.exit(3)
time.sleep(float(os.environ.get("SLOW_START", "0")))
if os.environ.get("TOUCH_FILE"):
    open(os.environ["TOUCH_FILE"], "w").close()
if os.environ.get("CHILD_PID_FILE"):
    child = subprocess.Popen(["sleep", "60"])
    open(os.environ["CHILD_PID_FILE"], "w").write(str(child.pid))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sick = os.environ.get("SICK_FILE")
        refused = self.path == "/needs-header" and self.headers.get("X-Probe") != "yes"
        if refused or self.path == "/broken" or (
            self.path == "/health" and sick and os.path.exists(sick)
        ):
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps({
            "revision": os.environ.get("ROLLOUT_REVISION"),
            "service": os.environ.get("ROLLOUT_SERVICE"),
            "greeting": os.environ.get("GREETING"),
            "port": os.environ.get("PORT"),
            "pid": os.getpid(),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        return


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print("listening on", os.environ["PORT"], flush=True)
if os.environ.get("FAIL_AFTER"):
    threading.Timer(float(os.environ["FAIL_AFTER"]), lambda: os._exit(4)).start()
server.serve_forever()
"""

FAST = {"probe_interval": 0.05, "backoff": 0.05, "max_backoff": 0.2, "stop_timeout": 2.0}


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def ensured(
    rt: runtime.LocalRuntime,
    rev: revision.Revision,
    what: str,
    check: Callable[[ports.RuntimeState], bool],
) -> ports.RuntimeState:
    """Call ensure (as the reconciler does) until its state passes `check`."""

    def once() -> ports.RuntimeState | None:
        state = rt.ensure(rev, replicas=1)
        return state if check(state) else None

    return wait_for(what, once)


def gone(pid: int) -> bool:
    """No such process (or only a zombie left for init to reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return processes.proc_start(pid) is None


class Harness:
    """Makes revisions and runtimes on one state dir; kills every pid it saw at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.state_dir = tmp_path / "state"
        self.app = tmp_path / "app.py"
        self.app.write_text(APP)
        self.runtimes: list[runtime.LocalRuntime] = []
        self.changes: list[tuple[str, str, ports.RuntimeState | None]] = []
        self.pids: set[int] = set()

    def make_runtime(self, **kwargs: Any) -> runtime.LocalRuntime:
        def on_change(namespace: str, name: str) -> None:
            self.changes.append((namespace, name, rt.state_of(namespace, name)))

        rt = runtime.LocalRuntime(self.state_dir, on_change=on_change, **{**FAST, **kwargs})
        self.runtimes.append(rt)
        return rt

    def make_revision(
        self,
        name: str = "web-00001",
        *,
        env: dict[str, str] | None = None,
        probe_path: str | None = None,
        failure_threshold: int = 3,
        command: list[str] | None = None,
        ready: bool = False,
    ) -> revision.Revision:
        container: dict[str, object] = {
            "name": "app",
            "command": command if command is not None else [sys.executable],
            "image": "ignored:latest",
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        }
        if command is None:
            container["args"] = [str(self.app)]
        if probe_path:
            container["readinessProbe"] = {
                "httpGet": {"path": probe_path, "port": 8080},
                "periodSeconds": 1,
                "failureThreshold": failure_threshold,
            }
        return revision.Revision(
            metadata=meta.ObjectMeta(name=name, namespace="team"),
            spec=revision.RevisionSpec(
                service="web", template=workload.PodTemplate(spec={"containers": [container]})
            ),
            status=revision.RevisionStatus(ready=ready),
        )

    def pid(self, rt: runtime.LocalRuntime, name: str = "web-00001") -> int:
        info = rt.describe("team", name)
        assert info is not None
        assert info.pid is not None
        self.pids.add(info.pid)
        return info.pid

    def ready(self, rt: runtime.LocalRuntime, rev: revision.Revision) -> ports.RuntimeState:
        state = ensured(rt, rev, f"{rev.metadata.name} ready", lambda s: s.ready)
        self.pid(rt, rev.metadata.name)
        return state

    def cleanup(self) -> None:
        for rt in self.runtimes:
            rt.detach()
        for path in self.state_dir.glob("run/*.json"):  # also those a failed test missed
            record = processes.read_run_file(path)
            if record and processes.proc_start(record.pid) == record.proc_start:
                self.pids.add(record.pid)
        for pid in self.pids:
            if not gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.cleanup()


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


# --- starting and readiness -------------------------------------------------------------


def test_ensure_returns_at_once_then_serves_with_its_env(harness: Harness) -> None:
    """ensure does not wait for the probe; the process serves on PORT with its env."""
    rt = harness.make_runtime()
    rev = harness.make_revision(env={"GREETING": "hi", "SLOW_START": "0.3", "PORT": "1"})
    started = time.monotonic()
    first = rt.ensure(rev, replicas=1)
    assert time.monotonic() - started < 0.25
    assert (first.ready, first.reason, first.url) == (False, "Starting", None)

    state = harness.ready(rt, rev)
    assert state.url is not None
    assert state.url.startswith("http://127.0.0.1:")
    body = get(state.url)
    assert body["revision"] == "web-00001"
    assert body["service"] == "web"
    assert body["greeting"] == "hi"
    assert body["port"] == state.url.rsplit(":", 1)[1]  # the runtime's PORT wins
    assert rt.url_of("team", "web-00001") == state.url
    assert rt.ready_revisions() == {("team", "web-00001"): state.url}

    record = json.loads((harness.state_dir / "run" / "team.web-00001.json").read_text())
    assert record["pid"] == body["pid"] == harness.pid(rt)
    assert record["port"] == int(body["port"])
    assert record["procStart"] == processes.proc_start(record["pid"])
    assert record["startedAt"]
    log_text = (harness.state_dir / "logs" / "team.web-00001.log").read_text()
    assert f"listening on {body['port']}" in log_text


def test_a_probe_path_that_fails_is_never_ready(harness: Harness) -> None:
    """GET on readinessProbe.httpGet.path answering 500 keeps the revision not ready."""
    rt = harness.make_runtime()
    rev = harness.make_revision(probe_path="/broken")
    state = ensured(rt, rev, "probe failing", lambda s: s.reason == "ProbeFailing")
    assert "GET /broken" in state.message
    assert "HTTP 500" in state.message
    deadline = time.monotonic() + 0.5  # several probes at 0.05 s
    while time.monotonic() < deadline:
        assert not rt.ensure(rev, replicas=1).ready
        time.sleep(0.05)
    assert rt.url_of("team", "web-00001") is None
    assert rt.ready_revisions() == {}
    harness.pid(rt)


def test_a_ready_revision_whose_probe_fails_is_not_ready_until_it_passes(
    harness: Harness,
) -> None:
    """failureThreshold failures in a row take a ready revision out; a pass brings it back."""
    rt = harness.make_runtime()
    sick = harness.tmp_path / "sick"
    rev = harness.make_revision(
        env={"SICK_FILE": str(sick)}, probe_path="/health", failure_threshold=1
    )
    harness.ready(rt, rev)
    sick.touch()
    state = ensured(rt, rev, "not ready", lambda s: not s.ready)
    assert (state.reason, state.failed, state.url) == ("ProbeFailing", False, None)
    assert "GET /health" in state.message
    assert rt.url_of("team", "web-00001") is None
    sick.unlink()
    ensured(rt, rev, "ready again", lambda s: s.ready)
    assert rt.ensure(rev, replicas=1).restarts == 0


def test_no_command_is_a_permanent_error(harness: Harness) -> None:
    """A container without a command cannot run locally: failed, NoCommand, no process."""
    rt = harness.make_runtime()
    state = rt.ensure(harness.make_revision(command=[]), replicas=1)
    assert (state.ready, state.failed, state.reason) == (False, True, "NoCommand")
    assert rt.describe("team", "web-00001") is None
    assert not (harness.state_dir / "run" / "team.web-00001.json").exists()


# --- crashes ----------------------------------------------------------------------------


def test_an_exited_process_is_restarted_and_counted(harness: Harness) -> None:
    """A process that exits is started again (same port) and `restarts` counts it."""
    rt = harness.make_runtime()
    rev = harness.make_revision(env={"FAIL_AFTER": "0.3"})
    first = harness.ready(rt, rev)
    first_pid = harness.pid(rt)
    again = ensured(rt, rev, "restarted", lambda s: s.restarts >= 1)
    wait_for("ready after the restart", lambda: rt.ensure(rev, replicas=1).ready)
    assert again.failed is False
    assert harness.pid(rt) != first_pid
    assert rt.ensure(rev, replicas=1).url == first.url
    assert gone(first_pid)
    log_text = (harness.state_dir / "logs" / "team.web-00001.log").read_text()
    assert "[rollout] exited with code 4" in log_text
    names = [(ns, name) for ns, name, _ in harness.changes]
    assert ("team", "web-00001") in names
    seen = [s for _, _, s in harness.changes if s is not None]
    assert any(s.ready for s in seen)
    assert any(s.reason == "Restarting" for s in seen)


def test_a_crash_loop_fails_with_the_last_log_lines(harness: Harness) -> None:
    """A process that keeps exiting is reported failed, CrashLoop, with its log lines."""
    rt = harness.make_runtime()
    rev = harness.make_revision(env={"EXIT_AT_START": "bad config"})
    state = ensured(rt, rev, "crash loop", lambda s: s.failed)
    assert state.reason == "CrashLoop"
    assert state.restarts >= 5
    assert not state.ready
    # The Revision's Ready message: how it ended, how often it was restarted, its
    # last lines of output (its own, not the runtime's `[rollout]` lines).
    message = revision_reconciler.explain(state)
    assert message.startswith(f"exited with code 3, restarted {state.restarts} times; ")
    assert state.log_tail[-1] == "boom: bad config"
    assert message.endswith("\nlast log lines:\n" + "\n".join(f"  {x}" for x in state.log_tail))
    assert 1 <= len(state.log_tail) <= 3
    assert not any(line.startswith("[rollout]") for line in state.log_tail)
    # The supervisor's thread calls on_change just after ensure can see the state.
    wait_for("on_change told of the crash loop",
             lambda: any(s is not None and s.failed for _, _, s in harness.changes))  # fmt: skip
    more = ensured(rt, rev, "still restarting", lambda s: s.restarts > 6)
    assert more.failed


def test_staying_ready_resets_the_crash_loop_count(harness: Harness) -> None:
    """Restarts separated by stable_after of readiness are not a crash loop."""
    rt = harness.make_runtime(crash_loop_after=2, stable_after=0.2)
    rev = harness.make_revision(env={"FAIL_AFTER": "0.5"})
    state = ensured(rt, rev, "4 restarts", lambda s: s.restarts >= 4)
    assert not state.failed
    assert not any(s is not None and s.failed for _, _, s in harness.changes)


def test_a_command_that_cannot_start_crash_loops(harness: Harness) -> None:
    """A missing executable is a crash: restarted with backoff, then CrashLoop."""
    rt = harness.make_runtime()
    rev = harness.make_revision(command=["/nonexistent/app-binary"])
    state = ensured(rt, rev, "crash loop", lambda s: s.failed)
    assert "cannot start '/nonexistent/app-binary'" in revision_reconciler.explain(state)


# --- the pod template: paths, secrets, probes -------------------------------------------


def template_revision(
    container: dict[str, Any], *, source_dir: Path | None = None
) -> revision.Revision:
    """A revision of `container` (`source_dir`: the applied file's, as apply records it)."""
    annotations = {names.SOURCE_DIR_ANNOTATION: str(source_dir)} if source_dir else {}
    return revision.Revision(
        metadata=meta.ObjectMeta(name="web-00001", namespace="team", annotations=annotations),
        spec=revision.RevisionSpec(
            service="web", template=workload.PodTemplate(spec={"containers": [container]})
        ),
    )


def test_relative_paths_resolve_in_the_applied_files_directory(harness: Harness) -> None:
    """A relative command path and workingDir resolve against the source dir, not the
    controller's working directory."""
    source = harness.tmp_path / "src"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "app.py").write_text(APP)
    rt = harness.make_runtime(cwd=harness.tmp_path / "elsewhere")
    rev = template_revision(
        {"name": "app", "command": [sys.executable, "app.py"], "workingDir": "bin"},
        source_dir=source,
    )
    state = harness.ready(rt, rev)
    assert state.url is not None
    log_text = (harness.state_dir / "logs" / "team.web-00001.log").read_text()
    assert f"in {source / 'bin'} (workingDir under the directory of the applied file)" in log_text


def test_without_a_source_dir_a_failure_says_what_it_resolved_against(
    harness: Harness,
) -> None:
    """No recorded dir: the controller's working directory, and the crash loop says so."""
    elsewhere = harness.tmp_path / "elsewhere"
    elsewhere.mkdir()
    rt = harness.make_runtime(cwd=elsewhere)
    rev = template_revision({"name": "app", "command": [sys.executable, "app.py"]})
    state = ensured(rt, rev, "crash loop", lambda s: s.failed)
    assert state.reason == "CrashLoop"
    message = revision_reconciler.explain(state)
    assert f"(working directory {elsewhere}: the controller's working directory" in message
    assert "rollout apply -f FILE" in message
    assert "can't open file" in message  # python's own line, from the log


def test_a_missing_working_directory_is_named(harness: Harness) -> None:
    rt = harness.make_runtime()
    source = harness.tmp_path / "src"
    rev = template_revision({"name": "app", "command": [sys.executable]}, source_dir=source)
    state = ensured(rt, rev, "restarting", lambda s: s.reason == "Restarting")
    message = revision_reconciler.explain(state)
    assert f"cannot start {sys.executable!r} in {source} (the directory" in message
    assert f"No such file or directory: {source}; restarting in" in message


def test_a_missing_secret_fails_at_once_and_a_later_ensure_retries(harness: Harness) -> None:
    """CreateContainerConfigError, no process; once the file exists the revision runs."""
    rt = harness.make_runtime()
    container = {
        "name": "app",
        "command": [sys.executable, str(harness.app)],
        "env": [{"name": "GREETING", "valueFrom": {"secretKeyRef": {"name": "hi", "key": "text"}}}],
    }
    rev = template_revision(container)
    state = rt.ensure(rev, replicas=1)
    folder = harness.state_dir / "secrets" / "team" / "hi"
    assert (state.ready, state.failed, state.reason) == (False, True, "CreateContainerConfigError")
    assert state.message == (
        f"container 'app': env GREETING: secret team/hi not found (looked for the directory"
        f" {folder})"
    )
    assert rt.describe("team", "web-00001") is None
    folder.mkdir(parents=True)
    (folder / "text").write_text("from a secret")
    body = get(str(harness.ready(rt, rev).url))
    assert body["greeting"] == "from a secret"


def test_probe_headers_and_tcp_probes(harness: Harness) -> None:
    """httpGet's httpHeaders are sent; exec (like tcpSocket) is a TCP connect on PORT."""
    rt = harness.make_runtime()
    base = {"name": "app", "command": [sys.executable, str(harness.app)]}

    def probed(name: str, probe: dict[str, Any]) -> revision.Revision:
        rev = template_revision({**base, "readinessProbe": {**probe, "periodSeconds": 1}})
        return rev.model_copy(update={"metadata": rev.metadata.model_copy(update={"name": name})})

    header = {"name": "X-Probe", "value": "yes"}
    path = {"path": "/needs-header", "port": 8080}
    harness.ready(rt, probed("web-00001", {"httpGet": {**path, "httpHeaders": [header]}}))
    without = probed("web-00002", {"httpGet": path})
    state = ensured(rt, without, "probe failing", lambda s: s.reason == "ProbeFailing")
    assert "GET /needs-header on port" in state.message
    assert "HTTP 500" in state.message
    state = harness.ready(rt, probed("web-00003", {"exec": {"command": ["false"]}}))
    [notice] = state.notices
    assert (notice.type, notice.message) == (
        "IgnoredOnLocal",
        "containers[0].readinessProbe.exec (probed as a TCP connect)",
    )


# --- stopping ---------------------------------------------------------------------------


def test_remove_stops_the_process_and_is_idempotent(harness: Harness) -> None:
    """remove stops the process group and deletes the run file; again, nothing happens."""
    rt = harness.make_runtime()
    child_file = harness.tmp_path / "child.pid"
    rev = harness.make_revision(env={"CHILD_PID_FILE": str(child_file)})
    harness.ready(rt, rev)
    pid = harness.pid(rt)
    child = int(wait_for("child pid", child_file.read_text))
    rt.remove("team", "web-00001")
    assert gone(pid)
    wait_for("child gone", lambda: gone(child))
    assert not (harness.state_dir / "run" / "team.web-00001.json").exists()
    assert rt.describe("team", "web-00001") is None
    assert rt.url_of("team", "web-00001") is None
    rt.remove("team", "web-00001")
    rt.remove("team", "never-existed")


def test_shutdown_leaves_no_orphans(harness: Harness) -> None:
    """shutdown stops every process it started (and their children), whatever their state."""
    rt = harness.make_runtime()
    child_file = harness.tmp_path / "child.pid"
    good = harness.make_revision("web-00001", env={"CHILD_PID_FILE": str(child_file)})
    failing = harness.make_revision("web-00002", probe_path="/broken")
    slow = harness.make_revision("web-00003", env={"SLOW_START": "30"})
    harness.ready(rt, good)
    rt.ensure(failing, replicas=1)
    rt.ensure(slow, replicas=1)
    pids = [harness.pid(rt, name) for name in ("web-00001", "web-00002", "web-00003")]
    pids.append(int(wait_for("child pid", child_file.read_text)))
    rt.shutdown()
    wait_for("every process gone", lambda: all(gone(p) for p in pids))
    for pid in pids[:3]:  # our children are reaped, not zombies
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list((harness.state_dir / "run").glob("*.json")) == []
    assert rt.ensure(good, replicas=1).reason == "ShuttingDown"


# --- adoption after a controller restart -----------------------------------------------


def test_a_restarted_controller_adopts_the_running_process(harness: Harness) -> None:
    """A new runtime on the same state dir adopts the live process instead of starting one."""
    first = harness.make_runtime()
    rev = harness.make_revision()
    url = harness.ready(first, rev).url
    pid = harness.pid(first)
    first.detach()  # the controller is gone; its process is not

    second = harness.make_runtime()
    adopted_rev = rev.model_copy(update={"status": revision.RevisionStatus(ready=True)})
    state = second.ensure(adopted_rev, replicas=1)
    assert (state.ready, state.url) == (True, url)  # probed before ensure answered
    info = second.describe("team", "web-00001")
    assert info is not None
    assert (info.pid, info.adopted) == (pid, True)
    deadline = time.monotonic() + 0.3  # several probes at 0.05 s: it stays ready
    while time.monotonic() < deadline:
        assert second.ensure(adopted_rev, replicas=1).ready
        time.sleep(0.05)
    log_text = (harness.state_dir / "logs" / "team.web-00001.log").read_text()
    assert log_text.count("[rollout] starting") == 1
    assert get(url or "")["pid"] == pid

    second.shutdown()
    assert gone(pid)


CONTROLLER = """
import sys, time
from pathlib import Path
from rollout.api import revision
from rollout.platforms.local import runtime

rt = runtime.LocalRuntime(Path(sys.argv[1]), probe_interval=0.05)
rev = revision.Revision.model_validate_json(sys.argv[2])
deadline = time.monotonic() + 30  # generous: a loaded 2-core machine is slow to start
while not rt.ensure(rev, replicas=1).ready:
    if time.monotonic() > deadline:
        sys.exit("not ready in 30 s")
    time.sleep(0.02)
print("PID", rt.describe("team", rev.metadata.name).pid, flush=True)
time.sleep(60)
"""


def test_a_process_outlives_a_killed_controller_and_is_adopted(harness: Harness) -> None:
    """A controller process killed with SIGKILL leaves its revision running for the next."""
    rev = harness.make_revision()
    controller = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, str(harness.state_dir), rev.model_dump_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert controller.stdout is not None
        seen: list[str] = []  # structlog writes to stdout too
        for line in iter(controller.stdout.readline, ""):
            seen.append(line)
            if line.startswith("PID "):
                pid = int(line.split()[1])
                break
        else:
            pytest.fail("the first controller ended without a ready revision:\n" + "".join(seen))
    finally:
        controller.kill()
        controller.wait()
        if controller.stdout is not None:
            controller.stdout.close()
    harness.pids.add(pid)
    assert not gone(pid)
    rt = harness.make_runtime()
    state = harness.ready(rt, rev)
    assert harness.pid(rt) == pid
    assert get(state.url or "")["pid"] == pid
    rt.shutdown()
    wait_for("the adopted process gone", lambda: gone(pid))


def test_an_adopted_process_is_ready_only_when_its_probe_passes(harness: Harness) -> None:
    """Issue 13, finding 1: adopting probes; a revision that was ready before the
    restart is not assumed ready (here its probe fails), and becomes ready by its probe."""
    first = harness.make_runtime()
    sick = harness.tmp_path / "sick"
    rev = harness.make_revision(env={"SICK_FILE": str(sick)}, probe_path="/health")
    harness.ready(first, rev)
    pid = harness.pid(first)
    first.detach()
    sick.touch()
    second = harness.make_runtime()
    was_ready = rev.model_copy(update={"status": revision.RevisionStatus(ready=True)})
    state = second.ensure(was_ready, replicas=1)
    assert (state.ready, state.reason, state.url) == (False, "ProbeFailing", None)
    assert "HTTP 500" in state.message
    assert second.endpoint("team", "web-00001") == runtime.Endpoint(None, known=True)
    sick.unlink()
    harness.ready(second, was_ready)
    info = second.describe("team", "web-00001")
    assert info is not None
    assert (info.pid, info.adopted, info.restarts) == (pid, True, 0)
    assert any(name == "web-00001" and s and s.ready for _, name, s in harness.changes[-1:])


def test_endpoint_is_unknown_only_for_a_process_left_running_and_not_yet_probed(
    harness: Harness,
) -> None:
    """What the router may send: a URL once probed; unknown (hold) for a live process an
    earlier controller left and this one has not ensured; known-down otherwise."""
    first = harness.make_runtime()
    rev = harness.make_revision()
    url = harness.ready(first, rev).url
    first.detach()
    second = harness.make_runtime()
    assert second.endpoint("team", "web-00001") == runtime.Endpoint(None, known=False)
    assert second.endpoint("team", "web-00009") == runtime.Endpoint(None, known=True)  # none
    second.ensure(rev, replicas=1)
    assert second.endpoint("team", "web-00001") == runtime.Endpoint(url, known=True)
    os.killpg(harness.pid(second), signal.SIGKILL)
    wait_for("known down", lambda: second.endpoint("team", "web-00001").url is None)
    assert second.endpoint("team", "web-00001").known
    second.shutdown()
    third = harness.make_runtime()  # nothing left running: known, not ready
    assert third.endpoint("team", "web-00001") == runtime.Endpoint(None, known=True)


def test_a_revision_runs_with_the_users_umask(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller's private umask (0077) is not imposed on the application."""
    monkeypatch.setattr(files, "user_umask", lambda: 0o027)
    rt = harness.make_runtime()
    touched = harness.tmp_path / "touched"
    harness.ready(rt, harness.make_revision(env={"TOUCH_FILE": str(touched)}))
    assert touched.stat().st_mode & 0o777 == 0o640


def test_an_adopted_process_that_dies_is_restarted(harness: Harness) -> None:
    """The adopter notices the death of a process that is not its child and restarts it."""
    first = harness.make_runtime()
    rev = harness.make_revision()
    harness.ready(first, rev)
    pid = harness.pid(first)
    first.detach()
    second = harness.make_runtime()
    second.ensure(rev, replicas=1)
    os.killpg(pid, signal.SIGKILL)
    state = ensured(second, rev, "restarted", lambda s: s.restarts == 1 and s.ready)
    assert state.url is not None
    assert harness.pid(second) != pid
    info = second.describe("team", "web-00001")
    assert info is not None
    assert not info.adopted


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    "pid_of",
    [pytest.param(_dead_pid, id="dead-pid"), pytest.param(os.getpid, id="reused-pid")],
)
def test_a_stale_run_file_leads_to_a_fresh_start(
    harness: Harness, pid_of: Callable[[], int]
) -> None:
    """A run file naming a dead pid, or a live pid with another start time, is replaced."""
    run_dir = harness.state_dir / "run"
    run_dir.mkdir(parents=True)
    stale = pid_of()
    start = processes.proc_start(stale)
    record = {"pid": stale, "port": 1, "startedAt": "x", "procStart": (start or 0) + 12345}
    (run_dir / "team.web-00001.json").write_text(json.dumps(record))
    rt = harness.make_runtime()
    rev = harness.make_revision()
    harness.ready(rt, rev)
    pid = harness.pid(rt)
    assert pid != stale
    written = json.loads((run_dir / "team.web-00001.json").read_text())
    assert written["pid"] == pid
    rt.remove("team", "web-00001")
    assert gone(pid)
    os.kill(os.getpid(), 0)  # the test process was not touched
