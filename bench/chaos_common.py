"""What the chaos benchmarks share: the policy and services they release, the `rollout`
command, the state dir's files, the processes of a run, and the results file.

`chaos_local.py` and `chaos_sim.py` (and `chaos_driver`, `chaos_checks`) import this
module from next to them (`python bench/…` puts `bench/` on the path). It talks to the
system only as a user would: the `rollout` command (apply, get) and the files of a
state dir — `state.db` opened read-only for a cheap look at releases between two CLI
reads (a CLI call costs about a second of CPU), `run/*.json`, `proxy.json`,
`clock.json` — and /proc for the processes. It imports nothing from `rollout`: the
engine, the platforms and the CLI change under it, and what it measures must not
depend on their internals. The test suite runs no benchmark;
`tests/unit/bench/test_chaos_checks.py` tests the judges and the results file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROLLOUT = str(pathlib.Path(sys.executable).parent / "rollout")
RESULTS = ROOT / "bench/results/chaos.md"
TERMINAL = frozenset({"Succeeded", "RolledBack", "Aborted", "Superseded", "Failed"})
DOWNWARD_PHASES = frozenset({"RollingBack", "RolledBack", "Aborted", "Superseded", "Failed"})
NAMESPACE = "default"

# -- what is released -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Policy:
    """The benchmark's policy: two weighted steps, each gated by an errors-vs-stable
    sequential comparison on the local provider."""

    weights: tuple[int, ...] = (10, 50)
    step_s: int = 30
    interval_s: int = 5
    min_samples: int = 20
    deadline_s: int = 180
    name: str = "chaos"

    def yaml(self) -> str:
        steps = "".join(
            f"    - setWeight: {w}\n    - analysis: {{duration: {self.step_s}s}}\n"
            for w in self.weights
        )
        return (
            "apiVersion: rollout.dev/v1alpha1\n"
            "kind: RolloutPolicy\n"
            f"metadata: {{name: {self.name}}}\n"
            "spec:\n"
            "  steps:\n"
            f"{steps}"
            "  analysis:\n"
            f"    interval: {self.interval_s}s\n"
            "    failureLimit: 0\n"
            "    inconclusiveLimit: 12\n"
            "    metrics:\n"
            "      - name: errors-vs-stable\n"
            "        provider: {local: {stat: errors}}\n"
            "        compare: {against: stable, method: sequential, alpha: 0.01, maxRatio: 2}\n"
            f"        minSamples: {self.min_samples}\n"
            f"  progressDeadline: {self.deadline_s}s\n"
        )

    def step_weights(self) -> list[int]:
        """The canary weight at each step index (a setWeight step and its analysis)."""
        return [w for w in self.weights for _ in (0, 1)]

    def expected_s(self, bad: bool) -> float:
        """A rough duration of one release without faults (for pacing kills)."""
        return 25.0 if bad else len(self.weights) * self.step_s + 10.0


def service_yaml(
    name: str, *, policy: str, version: str, error_rate: float, port: int | None, marker: str
) -> str:
    """A Service running the demo app; `marker` goes into its env (`CHAOS_RUN`) so that
    the benchmark finds every process it caused, run file or not."""
    port_line = f"  port: {port}\n" if port is not None else ""
    return (
        "apiVersion: rollout.dev/v1alpha1\n"
        "kind: Service\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  policy: {policy}\n"
        f"{port_line}"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: app\n"
        f"          command: [{sys.executable}, -m, rollout.demo.app]\n"
        "          env:\n"
        f"            - {{name: VERSION, value: {version}}}\n"
        f'            - {{name: ERROR_RATE, value: "{error_rate}"}}\n'
        f"            - {{name: CHAOS_RUN, value: {marker}}}\n"
        "          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n"
    )


# -- the CLI and the state dir ----------------------------------------------------


def cli(
    state_dir: pathlib.Path, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """`rollout ARGS --state-dir D`; a timeout is returned as exit code 124."""
    try:
        return subprocess.run(
            [ROLLOUT, *args, "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "ROLLOUT_USER": "chaos-bench"},
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return subprocess.CompletedProcess(exc.cmd, 124, out, f"timed out after {timeout} s")


def get_json(state_dir: pathlib.Path, kind: str) -> list[dict[str, Any]] | None:
    """`rollout get KIND -o json`: the authoritative read (None when the CLI failed)."""
    result = cli(state_dir, "get", kind, "-o", "json")
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, list) else [data]


def peek(state_dir: pathlib.Path, kinds: Sequence[str]) -> dict[str, list[dict[str, Any]]] | None:
    """A cheap look at objects in `state.db`, opened read-only (a CLI call costs about a
    second of CPU; the driver looks every second). None when the file cannot be read
    now (missing, locked, another schema): the caller tries again later."""
    db = state_dir / "state.db"
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        out: dict[str, list[dict[str, Any]]] = {}
        for kind in kinds:
            rows = conn.execute("SELECT body FROM objects WHERE kind = ?", (kind,)).fetchall()
            out[kind] = [json.loads(body) for (body,) in rows]
        return out
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()


def epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 stamp from a resource (None stays None)."""
    if not stamp:
        return None
    return datetime.datetime.fromisoformat(stamp).timestamp()


def version_of(revision: dict[str, Any]) -> str | None:
    """The VERSION env of a revision's first container (how a release is matched to
    the benchmark's plan)."""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        for env in revision["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if env.get("name") == "VERSION":
                return str(env.get("value"))
    return None


# -- processes ----------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of a process, None when there is none."""
    try:
        raw = pathlib.Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, start: int | None = None) -> bool:
    """The process runs (not a zombie) and, with `start`, is the one seen then (a pid
    reused by another process is not it)."""
    stat = proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start is None or stat[1] == start


def cmdline(pid: int) -> list[str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def environ(pid: int) -> dict[str, str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            out[name.decode(errors="replace")] = value.decode(errors="replace")
    return out


def all_pids() -> Iterable[int]:
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and, when it leads its own group (our revisions and the proxy
    do), the group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def tail(path: pathlib.Path, n: int = 2) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])[-400:]
    return ""


def seconds(text: str) -> float:
    """`90s`, `10m`, `1h` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = str(text).strip()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


# -- output -------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def machine() -> str:
    import platform

    one, five, fifteen = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()};"
        f" load average {one:.2f} / {five:.2f} / {fifteen:.2f}"
    )


HEADER = """# Chaos: releases under SIGKILLs, local and rehearsal platforms

Written by `bench/chaos_local.py --write` and `bench/chaos_sim.py --write`; each
replaces its own section below. The columns, what counts as a violation and how each
is measured are in the scripts' docstrings. Target: 0 in every violation column; the
proxy's own restart gap is reported in seconds.
"""


SECTIONS = ("local", "sim")


def write_section(path: pathlib.Path, key: str, text: str) -> None:
    """Replace the `key` section of the results file (create the file when missing)."""
    start, end = f"<!-- chaos:{key} -->", f"<!-- /chaos:{key} -->"
    body = f"{start}\n{text.strip()}\n{end}\n"
    old = (
        path.read_text()
        if path.exists()
        else HEADER
        + "".join(f"\n<!-- chaos:{k} -->\n(not run yet)\n<!-- /chaos:{k} -->\n" for k in SECTIONS)
    )
    if start in old and end in old:
        head, _, rest = old.partition(start)
        _, _, tail = rest.partition(end)
        new = head + body.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + body
    path.write_text(new if new.endswith("\n") else new + "\n")
