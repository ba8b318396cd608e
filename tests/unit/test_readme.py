"""The README a newcomer follows (issue 19, README findings).

- every relative link in README.md, DEVELOPERS.md and docs/*.md names a file of the
  repository (never one beside it, as `../shared/DESIGN.md` did) and every `#anchor`
  a heading of the file it points into;
- the sample of `make demo`'s output is compared with what the tour prints by
  `readme_samples.compare` — here, that the comparison refuses the edits a sample has
  suffered (a repeated phase, a line the tour does not print, a changed message); the
  real tour is compared in tests/e2e/test_demo_readme.py;
- the README says how to get `rollout` on PATH before its first `rollout` command, and
  `make demo` installs rollout without the test tools.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
from collections.abc import Callable

import pytest
import readme_samples

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
DOCS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\[[^\]]+\]:\s*(\S+)", flags=re.M)


def links(text: str) -> list[str]:
    """The targets of the Markdown links outside code blocks."""
    prose = _FENCE.sub("", text)
    return _LINK.findall(prose) + _REFERENCE.findall(prose)


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (`## Two commands` →
    `two-commands`; a repeated heading gets `-1`, `-2`, …)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", _FENCE.sub("", text), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def relative_links() -> list[tuple[pathlib.Path, str]]:
    return [
        (doc, target)
        for doc in DOCS
        for target in links(doc.read_text())
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_the_documents_have_relative_links() -> None:
    """The link test below has something to check (it would pass on no links)."""
    assert len(relative_links()) > 20


@pytest.mark.parametrize(
    ("doc", "target"),
    relative_links(),
    ids=[f"{d.name}:{t}" for d, t in relative_links()],
)
def test_every_relative_link_resolves_inside_the_repository(doc: pathlib.Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    resolved = (doc.parent / path).resolve() if path else doc
    assert resolved.is_relative_to(ROOT), f"{doc.name}: {target} points outside the repository"
    assert resolved.exists(), f"{doc.name}: {target}: no such file in the repository"
    if anchor:
        assert resolved.suffix == ".md", f"{doc.name}: {target}: an anchor into a non-Markdown file"
        assert anchor in anchors(resolved.read_text()), (
            f"{doc.name}: {target}: {resolved.name} has no heading #{anchor}"
        )


def test_the_link_check_catches_a_link_outside_and_a_missing_anchor() -> None:
    text = "see [`DESIGN.md`](../shared/DESIGN.md) and [x](#no-such-heading)\n# A heading"
    assert links(text) == ["../shared/DESIGN.md", "#no-such-heading"]
    assert not (ROOT / "../shared/DESIGN.md").resolve().is_relative_to(ROOT)
    assert anchors(text) == {"a-heading"}
    assert anchors("## Gates, hooks and notifications") == {"gates-hooks-and-notifications"}


# --- the sample of the tour's output ------------------------------------------------------


def sample() -> list[str]:
    return readme_samples.demo_sample(README)


def tour_of_the_sample() -> list[str]:
    """What a tour prints that matches the sample (the sample without make's lines)."""
    return [line for line in sample() if not line.startswith(("installing rollout", "next: "))]


def test_the_sample_is_there_and_shows_both_releases_ending() -> None:
    lines = sample()
    assert lines[0].startswith("installing rollout")
    assert any(" RolledBack: " in line for line in lines)
    assert any(" Succeeded: " in line for line in lines)
    assert readme_samples.compare(lines, tour_of_the_sample(), MAKEFILE) == []


def test_the_comparison_ignores_numbers_and_temp_paths() -> None:
    printed = [
        re.sub(r"\d+", lambda m: str(int(m.group()) + 7), line) for line in tour_of_the_sample()
    ]
    printed = [re.sub(r"e-value \d+", "e-value 2.43e+03", line) for line in printed]
    printed[0] = "rollout demo — state and logs in /tmp/rollout-demo-q1w2e3r4"
    assert readme_samples.compare(sample(), printed, MAKEFILE) == []


def _edited(old: str, new: str) -> list[str]:
    lines = sample()
    hits = [i for i, line in enumerate(lines) if old in line]
    assert hits, old
    lines[hits[0]] = lines[hits[0]].replace(old, new, 1)
    return lines


EDITS: dict[str, Callable[[], list[str]]] = {
    "repeated-phase": lambda: _edited(" RolledBack: ", " RolledBack: RolledBack: "),
    "repeated-step": lambda: _edited("Progressing: step", "Progressing step 2/4: step"),
    "changed-message": lambda: _edited("promoted to 100%", "promoted"),
    "extra-line": lambda: [*sample()[:3], "demo: v1 is healthy", *sample()[3:]],
    "missing-line": lambda: [line for line in sample() if " Succeeded: " not in line],
    "not-what-make-prints": lambda: _edited("next: ", "next: run "),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_the_comparison_refuses_a_sample_the_tour_does_not_print(edit: str) -> None:
    edited = EDITS[edit]()
    assert readme_samples.compare(edited, tour_of_the_sample(), MAKEFILE) != []


def test_a_transient_state_may_be_caught_or_missed() -> None:
    """The tour looks every 0.25 s: a Pending or RollingBack line is printed only
    when it looks during that state."""
    printed = tour_of_the_sample()
    pending = [line for line in printed if readme_samples.transient(line)]
    assert pending, "the sample shows no transient state"
    without = [line for line in printed if not readme_samples.transient(line)]
    assert readme_samples.compare(sample(), without, MAKEFILE) == []
    rolling = "demo: demo-00001 100% | demo-00002 RollingBack: errors-vs-stable: …"
    at = next(i for i, line in enumerate(printed) if " RolledBack: " in line)
    assert readme_samples.compare(sample(), [*printed[:at], rolling, *printed[at:]], MAKEFILE) == []


# --- getting started ------------------------------------------------------------------------


def test_the_readme_puts_rollout_on_path_before_its_first_rollout_command() -> None:
    """`rollout` is not on PATH after `make demo`: the README says what puts it there
    before a `$ rollout …` line, or a ```sh line that runs it, first appears."""
    first = re.search(r"^(\$ )?rollout ", README, flags=re.M)
    assert first is not None
    before = README[: first.start()]
    assert "source .venv/bin/activate" in before
    assert "make install" in before


def test_make_demo_installs_rollout_without_the_test_tools() -> None:
    """`make demo` depends on the run-time install only (`pip install -e .`), which
    `make test`'s install implies (it touches both stamps)."""
    demo = re.search(r"^demo: (.+)$", MAKEFILE, flags=re.M)
    assert demo is not None
    assert demo.group(1).split() == ["$(RUN_STAMP)"]
    run = MAKEFILE.split("$(RUN_STAMP): pyproject.toml\n", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet -e .\n" in run + "\n"
    assert "[dev]" not in run
    dev = MAKEFILE.split("$(STAMP): pyproject.toml\n", 1)[1].split("\n\n", 1)[0]
    assert "touch $(STAMP) $(RUN_STAMP)" in dev
    assert re.search(r"^install: \$\(RUN_STAMP\)$", MAKEFILE, flags=re.M)


def test_make_install_links_rollout_onto_path(tmp_path: pathlib.Path) -> None:
    """`make install` links PREFIX/bin/rollout to the virtualenv's command (here a
    virtualenv already installed: its stamp is newer than pyproject.toml)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "rollout").write_text("#!/bin/sh\necho rollout from the venv\n")
    (venv / "bin" / "rollout").chmod(0o755)
    stamp = venv / ".installed-run"
    stamp.touch()
    later = (ROOT / "pyproject.toml").stat().st_mtime + 3600  # never a real install here
    os.utime(stamp, (later, later))
    prefix = tmp_path / "prefix"
    make = ["make", "-s", "-C", str(ROOT), f"VENV={venv}", f"PREFIX={prefix}"]
    env = {**os.environ, "PATH": f"{prefix / 'bin'}:{os.environ['PATH']}"}
    installed = subprocess.run(
        [*make, "install"], capture_output=True, text=True, env=env, check=True
    )
    link = prefix / "bin" / "rollout"
    assert link.resolve() == (venv / "bin" / "rollout").resolve()
    assert "not on your PATH" not in installed.stdout
    ran = subprocess.run(["rollout"], capture_output=True, text=True, env=env, check=True)
    assert ran.stdout == "rollout from the venv\n"
    subprocess.run([*make, "uninstall"], capture_output=True, text=True, check=True)
    assert not link.exists()
