"""Runs every `rollout` command once against one state dir and prints what each did,
as JSON: the helper process of `test_store_faults.py` (not a test module).

A separate process because a test case may need one: a read-only directory means
nothing to root, so the test runs this driver without capabilities (`setpriv`); and
`controller`/`demo` configure logging and signal handlers for the whole process.
Commands run through click's test runner here, with real files and real SQLite.

    python _fault_driver.py STATE_DIR WORK_DIR LOCK_WAIT [SKIP,SKIP…]

WORK_DIR holds `policy.yaml`. Prints one JSON object: command → {exit, stdout,
stderr, exception} (exception: the type name of anything but SystemExit).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

# Minimal arguments of each command; STATE is replaced by the state dir, WORK by the
# work dir. `controller` and `demo` come last: they configure logging and signals.
ARGS: dict[str, list[str]] = {
    "apply": ["apply", "-f", "WORK/policy.yaml", "--state-dir", "STATE"],
    "validate": ["validate", "-f", "WORK/policy.yaml"],
    "get": ["get", "services", "--state-dir", "STATE"],
    "status": ["status", "web", "--state-dir", "STATE"],
    "promote": ["promote", "web", "--state-dir", "STATE"],
    "pause": ["pause", "web", "--state-dir", "STATE"],
    "resume": ["resume", "web", "--state-dir", "STATE"],
    "abort": ["abort", "web", "--state-dir", "STATE"],  # after them: an aborting release
    "retry": ["retry", "web", "--state-dir", "STATE"],  # is neither paused nor resumed
    "undo": ["undo", "web", "--to-revision", "web-00001", "--state-dir", "STATE"],
    "history": ["history", "web", "--state-dir", "STATE"],
    "events": ["events", "web", "--state-dir", "STATE"],
    "analyze": ["analyze", "web", "--state-dir", "STATE"],
    "delete": ["delete", "policy", "gate", "--force", "--state-dir", "STATE"],  # last of them
    "crds": ["crds"],
    "simulate": ["simulate", "--baseline", "flagger", "--scenario", "good", "--seeds", "1"],
    "diagram": ["diagram"],
    "load": ["load", "http://127.0.0.1:9/", "--rps", "5", "--duration", "200ms", "-q"],
    "install": ["install", "--print"],
    "controller": ["controller", "--platform", "sim", "--metrics-addr", "off"],
    "demo": ["demo", "--json", "--state-dir", "STATE"],
    "dashboard": ["dashboard", "--addr", "127.0.0.1:0", "--state-dir", "STATE"],
}
ARGS["controller"] += ["--state-dir", "STATE"]
ARGS["simulate"] += ["--jobs", "1"]


def main(state: str, work: str, lock_wait: float, skip: set[str]) -> None:
    from click.testing import CliRunner

    from rollout.cli import common
    from rollout.cli import main as cli_main

    common.LOCK_WAIT = lock_wait
    os.environ["ROLLOUT_STATE_DIR"] = state  # for the commands without --state-dir
    os.environ["ROLLOUT_USER"] = "driver"
    results: dict[str, dict[str, object]] = {}
    for name, template in ARGS.items():
        if name in skip:
            continue
        args = [a.replace("STATE", state).replace("WORK", work) for a in template]
        result = CliRunner().invoke(cli_main.cli, args)
        exception = result.exception
        results[name] = {
            "exit": result.exit_code,
            "stdout": result.stdout[-2000:],
            "stderr": result.stderr[-2000:],
            "exception": None if isinstance(exception, SystemExit | None) else repr(exception),
        }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    skipped = set(filter(None, sys.argv[4].split(","))) if len(sys.argv) > 4 else set()
    main(sys.argv[1], str(pathlib.Path(sys.argv[2])), float(sys.argv[3]), skipped)
