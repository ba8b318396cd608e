"""Kubernetes chaos run (issue 18): many releases through an API server that fails like
a cluster, on the in-repo emulator (`tests/kubernetes/kubeemu`) — the real CLI and
controller processes, the official client over HTTP.

- `--services` (10) Services `s0…`, released under a two-step policy (`setWeight: 50`,
  a 1 s pause); all but two get `--releases` (6) new versions each, one after the
  other, applied with `rollout apply` (the policy's progressDeadline: 30 s). With the
  defaults: 48 releases that must end `Succeeded`, plus two that must fail with their
  cause:
  - `refused`: its Gateway (`strict`, named in its `parentRefs`) refuses the route
    once the first version serves (`NotAllowedByListeners`): its release must end
    `Failed` with the gateway's message;
  - `stuck`: its second version's Deployment never becomes available (the emulator's
    `progress-deadline` mode; its Service's `progressDeadline` is 10 s, the others' 2 m):
    its release must end `Failed` with `ProgressDeadlineExceeded`.
  That is 50 releases.
- Faults on the controller's requests only: `--fault-rate` (10%) answered 409, 429
  (with `Retry-After: 1`) or 500 in equal shares, and its watch streams cut every
  `--drop-watch` (5) seconds.
- One invalid object per kind applied with `kubectl --validate=false` (accepted by the
  CRD schema and its CEL rules, refused by our model): a Service (a port name longer
  than 15 characters), a Route (another service's revision), a Revision (the same), a
  Release and a RolloutPolicy (an analysis step naming an unknown metric). Each must carry
  `Ready=False, reason=InvalidSpec` (the policy, which has no status: a Warning
  Event `InvalidSpec`) — and nothing else may stall because of them.
- The controller runs with `--kube-qps` (20) and `--kube-burst` (30); the emulator
  timestamps every request, and the most requests of the controller in any 1, 2 and
  5 s window must stay within `burst + qps × window` (+1 for the lease's own client).

    .venv/bin/python bench/chaos_kube.py [--services 10] [--releases 6] [--seed 7]

Prints a table and one JSON line; writes `bench/results/chaos_kube.md`. Exit 1 when a
check fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/kubernetes"))

import kubecluster  # noqa: E402
import kubeemu  # noqa: E402
from kubeemu import crdfiles, gateways  # noqa: E402

GROUP, VERSION = "rollout.dev", "v1alpha1"
REFUSAL = "no listener of Gateway strict allows routes from namespace default"

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: two-step, namespace: default}
spec:
  progressDeadline: 30s
  steps:
    - setWeight: 50
    - pause: {duration: 1s}
"""

INVALID = {
    "RolloutPolicy": """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: bad-policy, namespace: default}
spec:
  steps:
    - setWeight: 50
    - analysis: {duration: 10s, metrics: [nope]}
  analysis:
    metrics:
      - {name: error-rate, provider: {local: {stat: error_rate}}, thresholds: {max: 0.05}}
""",
    "Service": """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {name: bad-service, namespace: default}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "registry.example/x:1"
          ports: [{name: a-port-name-too-long, containerPort: 8080}]
""",
    "Route": """\
apiVersion: rollout.dev/v1alpha1
kind: Route
metadata: {name: bad-route, namespace: default}
spec:
  service: bad-route
  traffic: [{revisionName: other-00001, percent: 100}]
""",
    "Revision": """\
apiVersion: rollout.dev/v1alpha1
kind: Revision
metadata: {name: bad-revision-00001, namespace: default}
spec:
  service: bad-revision
  template:
    spec:
      containers:
        - name: app
          image: "registry.example/x:1"
          ports: [{name: a-port-name-too-long, containerPort: 8080}]
""",
    "Release": """\
apiVersion: rollout.dev/v1alpha1
kind: Release
metadata: {name: bad-release-00002, namespace: default}
spec:
  service: bad-release
  stableRevision: bad-release-00001
  canaryRevision: bad-release-00002
  policy:
    steps:
      - setWeight: 50
      - analysis: {duration: 10s, metrics: [nope]}
    analysis:
      metrics:
        - {name: error-rate, provider: {local: {stat: error_rate}}, thresholds: {max: 0.05}}
""",
}
PLURALS = {
    "Service": "services",
    "Route": "routes",
    "Revision": "revisions",
    "Release": "releases",
    "RolloutPolicy": "rolloutpolicies",
}


def service(name: str, version: int, *, parent: str = "public", deadline: str = "2m") -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  policy: two-step
  progressDeadline: {deadline}
  routing: {{router: gateway-api, parentRefs: [{{name: {parent}}}]}}
  template:
    spec:
      containers:
        - name: app
          image: "registry.example/{name}:v{version}"
          ports: [{{containerPort: 8080}}]
"""


def rev(n: int, name: str) -> str:
    return f"{name}-{n:05d}"


class Run:
    def __init__(self, args: argparse.Namespace, tmp: pathlib.Path) -> None:
        self.args, self.tmp = args, tmp
        self.emu = kubeemu.start_emulator()
        crdfiles.register(self.emu, [*crdfiles.PROJECT_CRDS, *crdfiles.MESH_CRDS])
        self.kubeconfig = self.emu.write_kubeconfig(tmp / "kubeconfig")
        self.deployments = kubecluster.DeploymentController(self.emu)
        self.gateways = gateways.GatewayController(
            self.emu, {"*/public": gateways.ACCEPT, "*/strict": gateways.ACCEPT}
        )
        self.problems: list[str] = []

    def obj(self, plural: str, name: str) -> dict[str, Any]:
        return self.emu.get_object(GROUP, VERSION, plural, "default", name) or {}

    def status(self, plural: str, name: str) -> dict[str, Any]:
        return self.obj(plural, name).get("status") or {}

    def apply(self, text: str, name: str) -> None:
        path = self.tmp / f"{name}.yaml"
        path.write_text(text)
        for _ in range(5):  # the CLI's own requests are not faulted; its exit must be 0
            done = kubecluster.rollout(self.kubeconfig, "apply", "-f", str(path))
            if done.returncode == 0:
                return
        raise RuntimeError(f"rollout apply {name}: {done.stderr}")

    def kubectl(self, text: str) -> None:
        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "apply",
                "--validate=false",
                "-f",
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl apply: {done.stderr}")

    def wait(self, predicate: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        self.problems.append(f"not within {timeout:g} s: {what}")
        return None


def drive(run: Run, name: str, versions: int, results: dict[str, dict[str, Any]]) -> None:
    """Apply versions 1…`versions` of Service `name`, each once the one before ended."""
    try:
        run.apply(service(name, 1), f"{name}-v1")
        run.wait(
            lambda: run.status("services", name).get("stableRevision") == rev(1, name),
            60,
            f"{name} v1 serving",
        )
        for v in range(2, versions + 1):
            run.apply(service(name, v), f"{name}-v{v}")
            release = rev(v, name)
            started = time.monotonic()
            ended = run.wait(
                lambda release=release: (
                    run.status("releases", release).get("phase")
                    in ("Succeeded", "Failed", "RolledBack", "Aborted")
                ),
                90,
                f"release {release} to end",
            )
            status = run.status("releases", release)
            results[release] = {
                "phase": status.get("phase"),
                "message": status.get("message", ""),
                "seconds": round(time.monotonic() - started, 1),
            }
            if not ended:
                return
            run.wait(
                lambda release=release: (
                    run.status("services", name).get("stableRevision") == release
                ),
                30,
                f"{name}: {release} stable",
            )
    except Exception as exc:  # a broken driver is a failed check, not a crash
        run.problems.append(f"{name}: {type(exc).__name__}: {exc}")


def drive_refused(run: Run, results: dict[str, dict[str, Any]]) -> None:
    name = "refused"
    run.apply(service(name, 1, parent="strict"), f"{name}-v1")
    run.wait(
        lambda: run.status("services", name).get("stableRevision") == rev(1, name),
        60,
        "refused v1 serving",
    )
    run.gateways.set("*/strict", gateways.Refuse("NotAllowedByListeners", REFUSAL))
    run.apply(service(name, 2, parent="strict"), f"{name}-v2")
    _finish(run, rev(2, name), results)


def drive_stuck(run: Run, results: dict[str, dict[str, Any]]) -> None:
    name = "stuck"
    run.emu.deployments.fail("progress-deadline", name=rev(2, name), namespace="default")
    run.apply(service(name, 1), f"{name}-v1")
    run.wait(
        lambda: run.status("services", name).get("stableRevision") == rev(1, name),
        60,
        "stuck v1 serving",
    )
    run.apply(service(name, 2, deadline="10s"), f"{name}-v2")
    _finish(run, rev(2, name), results)


def _finish(run: Run, release: str, results: dict[str, dict[str, Any]]) -> None:
    started = time.monotonic()
    run.wait(
        lambda: run.status("releases", release).get("phase") in ("Failed", "Succeeded"),
        90,
        f"release {release} to end",
    )
    status = run.status("releases", release)
    results[release] = {
        "phase": status.get("phase"),
        "message": status.get("message", ""),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--releases", type=int, default=6, help="releases per valid service")
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--drop-watch", type=float, default=5.0)
    parser.add_argument("--qps", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "bench/results/chaos_kube.md")
    args = parser.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="chaos-kube-"))
    run = Run(args, tmp)
    share = args.fault_rate / 3
    run.emu.faults = kubeemu.Faults(
        conflict_rate=share,
        error_rate=share,
        throttle_rate=share,
        retry_after_s=1,
        drop_watch_after_s=args.drop_watch,
        seed=args.seed,
        user_agent_contains="rollout-controller",
    )
    started = time.monotonic()
    controller = kubecluster.Controller(
        run.kubeconfig,
        tmp / "controller.log",
        "--kube-qps",
        f"{args.qps:g}",
        "--kube-burst",
        str(args.burst),
    )
    results: dict[str, dict[str, Any]] = {}
    invalid: dict[str, str] = {}
    try:
        run.apply(POLICY, "policy")
        for text in INVALID.values():
            run.kubectl(text)
        valid = [f"s{i}" for i in range(args.services - 2)]
        threads = [
            threading.Thread(target=drive, args=(run, name, args.releases + 1, results))
            for name in valid
        ]
        threads += [
            threading.Thread(target=drive_refused, args=(run, results)),
            threading.Thread(target=drive_stuck, args=(run, results)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for kind, text in INVALID.items():
            name = text.split("name: ", 1)[1].split(",", 1)[0]
            invalid[kind] = _invalid_mark(run, kind, name)
    finally:
        code = controller.stop()
        run.gateways.stop()
        run.deployments.stop()
        elapsed = time.monotonic() - started
        agent = "rollout-controller"
        requests = [r for r in run.emu.requests.snapshot() if agent in r.user_agent]
        busiest = {w: run.emu.requests.busiest(w, user_agent_contains=agent) for w in (1, 2, 5)}
        faulted = sum(1 for r in requests if r.status_code in (409, 429, 500))
        by_call = collections.Counter(
            f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}" for r in requests
        ).most_common(8)
        run.emu.stop()

    expected = {
        rev(v, f"s{i}"): "Succeeded"
        for i in range(args.services - 2)
        for v in range(2, args.releases + 2)
    }
    expected[rev(2, "refused")] = "Failed"
    expected[rev(2, "stuck")] = "Failed"
    wrong = {
        k: results.get(k, {}).get("phase")
        for k, want in expected.items()
        if results.get(k, {}).get("phase") != want
    }
    refused_msg = results.get(rev(2, "refused"), {}).get("message", "")
    stuck_msg = results.get(rev(2, "stuck"), {}).get("message", "")
    checks = {
        "every release in the right phase": not wrong,
        "refused route fails with the gateway's message": REFUSAL in refused_msg,
        "stuck Deployment fails with ProgressDeadlineExceeded": "ProgressDeadlineExceeded"
        in stuck_msg,
        "every invalid object marked InvalidSpec": all(
            v == "InvalidSpec" for v in invalid.values()
        ),
        "request rate within QPS + burst": all(
            n <= args.burst + args.qps * w + 1 for w, n in busiest.items()
        ),
        "faults exercised (≥ 20 answered 409/429/500)": faulted >= 20,
        "controller exited 0": code == 0,
        "drivers finished without problems": not run.problems,
    }
    succeeded = sum(1 for r in results.values() if r["phase"] == "Succeeded")
    failed = sum(1 for r in results.values() if r["phase"] == "Failed")
    durations = sorted(r["seconds"] for r in results.values() if r["phase"] == "Succeeded")
    rows = [
        ("releases", f"{len(results)} ({succeeded} Succeeded, {failed} Failed)"),
        ("expected", f"{len(expected)} ({len(expected) - 2} Succeeded, 2 Failed)"),
        ("wrong phase", json.dumps(wrong) if wrong else "none"),
        (
            "release time p50 / max",
            f"{durations[len(durations) // 2]:.1f} s / {durations[-1]:.1f} s" if durations else "—",
        ),
        ("refused route", refused_msg[:140]),
        ("stuck Deployment", stuck_msg[:140]),
        ("invalid objects", ", ".join(f"{k}: {v}" for k, v in invalid.items())),
        (
            "controller requests",
            f"{len(requests)} in {elapsed:.0f} s ({len(requests) / elapsed:.1f}/s)",
        ),
        ("most frequent calls", ", ".join(f"{call} {n}" for call, n in by_call)),
        ("faulted (409/429/500)", f"{faulted} ({faulted / max(len(requests), 1):.1%})"),
        (
            "busiest 1 / 2 / 5 s",
            " / ".join(
                f"{busiest[w]} (limit {args.burst + args.qps * w + 1:g})" for w in (1, 2, 5)
            ),
        ),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    table += "\n\n| check | result |\n|---|---|\n" + "\n".join(
        f"| {k} | {'pass' if ok else 'FAIL'} |" for k, ok in checks.items()
    )
    if run.problems:
        table += "\n\nProblems:\n" + "\n".join(f"- {p}" for p in run.problems)
    print(table)
    summary = {
        "bench": "chaos_kube",
        "services": args.services,
        "releases": len(results),
        "succeeded": succeeded,
        "failed": failed,
        "wrong": wrong,
        "invalid": invalid,
        "requests": len(requests),
        "faulted": faulted,
        "calls": dict(by_call),
        "busiest": busiest,
        "qps": args.qps,
        "burst": args.burst,
        "seconds": round(elapsed, 1),
        "checks": checks,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    args.out.write_text(
        "# Kubernetes chaos run (emulator)\n\n"
        f"`.venv/bin/python bench/chaos_kube.py --services {args.services} --releases"
        f" {args.releases} --seed {args.seed}` on {os.cpu_count()} CPUs: {args.fault_rate:.0%}"
        f" of the controller's requests answered 409/429/500, watches cut every"
        f" {args.drop_watch:g} s, `--kube-qps {args.qps:g} --kube-burst {args.burst}`."
        " See the script's docstring for what each check means.\n\n"
        f"{table}\n\n```json\n{json.dumps(summary)}\n```\n"
    )
    if not all(checks.values()):
        print((tmp / "controller.log").read_text()[-4000:], file=sys.stderr)
        sys.exit(1)


def _invalid_mark(run: Run, kind: str, name: str) -> str:
    """The reason of the invalid object's Ready condition (a policy: of its Event)."""

    def mark() -> str | None:
        if kind == "RolloutPolicy":
            found = [
                e
                for e in _events(run)
                if (e.get("regarding") or e.get("involvedObject") or {}).get("name") == name
                and e.get("reason") == "InvalidSpec"
            ]
            return "InvalidSpec" if found else None
        ready = [
            c
            for c in run.status(PLURALS[kind], name).get("conditions") or []
            if c.get("type") == "Ready"
        ]
        return ready[0].get("reason") if ready and ready[0].get("reason") == "InvalidSpec" else None

    return run.wait(mark, 30, f"{kind} {name} marked InvalidSpec") or "not marked"


def _events(run: Run) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(run.kubeconfig),
            "get",
            "events",
            "-n",
            "default",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(done.stdout).get("items", [])
    return items


if __name__ == "__main__":
    main()
