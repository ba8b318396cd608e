"""The README's sample of `make demo` is what the tour prints (issue 19: the sample
showed `RolledBack: RolledBack: …` and lines the tour did not print).

Runs the real tour once — `rollout demo`, piped, as `make demo` runs it: real
processes, the proxy, 20 requests a second, about 50 s — and compares its lines with
the README's, modulo numbers and temp paths (`readme_samples.compare`; a state the
tour catches only if it looks at the right moment, such as Pending, may be on either
side). The tour has no faster speed: its releases are real processes under real
load, so the sample can only come from a real run.
"""

from __future__ import annotations

import pathlib
import subprocess

import readme_samples
from localenv import ROLLOUT

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_readme_sample_is_what_the_tour_prints(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [ROLLOUT, "demo", "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sample = readme_samples.demo_sample((ROOT / "README.md").read_text())
    problems = readme_samples.compare(
        sample, result.stdout.splitlines(), (ROOT / "Makefile").read_text()
    )
    assert problems == [], "\n".join([*problems, "the tour printed:", result.stdout])
