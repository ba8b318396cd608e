"""The tour, `rollout demo`, run for real — twice at once: as `make demo` runs it
(piped) and with `--json` (real processes, the proxy, 20 requests a second, about
50 s each; run side by side, each in its own state directory, on free ports).

- The README's sample of `make demo` is what the tour prints (issue 19: the sample
  showed `RolledBack: RolledBack: …` and lines the tour did not print): its lines are
  compared with the README's, modulo numbers and temp paths
  (`readme_samples.compare`; a state the tour catches only if it looks at the right
  moment, such as Pending, may be on either side). The tour has no faster speed: its
  releases are real processes under real load, so the sample can only come from a
  real run.
- `--json`: the bad version is rolled back after few failed requests, the good one
  promoted without a failed request, and every process the tour started is stopped.
"""

from __future__ import annotations

import json
import pathlib
import subprocess

import readme_samples
from localenv import ROLLOUT, alive

from rollout.platforms.local.proxy import client as proxy_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ROLLOUT, "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_the_tour_prints_the_readme_sample_and_its_json_says_what_happened(
    tmp_path: pathlib.Path,
) -> None:
    json_state = tmp_path / "json"
    printed = _start("--state-dir", str(tmp_path / "state"))
    as_json = _start("--json", "--state-dir", str(json_state))
    code, out, err = _finish(printed)
    json_code, json_out, json_err = _finish(as_json)

    assert code == 0, out + err
    sample = readme_samples.demo_sample((ROOT / "README.md").read_text())
    problems = readme_samples.compare(sample, out.splitlines(), (ROOT / "Makefile").read_text())
    assert problems == [], "\n".join([*problems, "the tour printed:", out])

    assert json_code == 0, json_out + json_err
    bad, good = (json.loads(line) for line in json_out.splitlines())
    assert (bad["scenario"], bad["phase"]) == ("bad", "RolledBack")
    assert 0 < bad["requests"]["canaryFailed"] <= 10
    assert (good["scenario"], good["phase"]) == ("good", "Succeeded")
    assert good["requests"]["canary"] > 0
    assert good["requests"]["canaryFailed"] == 0
    assert not list((json_state / "run").glob("*.json"))  # every revision process stopped
    proxy = proxy_client.read_state(json_state)
    assert proxy is None or not alive(proxy[0])
