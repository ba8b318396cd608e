"""The README's samples of tour output, and their comparison with what the tour prints.

`demo_sample(readme)`: the lines of the ```console block of "Two commands" that
starts with `$ make demo`. `compare(sample, printed, makefile)`: the problems, one
line each, when the sample is not what `make demo` prints, modulo numbers and temp
paths (`shape(line)`): every sample line is printed in the same order, and every
printed line is in the sample — except the lines of states the tour may or may not
catch between two looks (`transient`: Pending, RollingBack, Promoting, a setWeight
step), which may be missing on either side. Lines the Makefile prints itself
(`make_lines`) are checked against the Makefile's `@echo`s.

Used by tests/unit/test_readme.py (the comparison itself, against edits of the
sample) and tests/e2e/test_demo_readme.py (against a real tour).
"""

from __future__ import annotations

import re

__all__ = ["compare", "demo_sample", "make_lines", "shape", "transient"]

_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/?)+[…]?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_TRANSIENT = re.compile(
    r"\| \S+ (Pending|RollingBack|Promoting): |\| \S+ Progressing: step \S+: setWeight"
)


def demo_sample(readme: str) -> list[str]:
    """The console block under "## Two commands" whose first line is `$ make demo`."""
    section = readme.split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        lines = block.rstrip("\n").split("\n")
        if lines and lines[0] == "$ make demo":
            return lines[1:]
    raise AssertionError('no ```console block starting with "$ make demo" under "Two commands"')


def shape(line: str) -> str:
    """The line with temp paths as <path> and every number as N."""
    return _NUMBER.sub("N", _PATH.sub("<path>", line.rstrip()))


def transient(line: str) -> bool:
    """A state the tour shows only if it looks while the release is in it."""
    return bool(_TRANSIENT.search(line))


def make_lines(makefile: str) -> set[str]:
    """What the Makefile's `@echo`s print, `$(VENV)` as `.venv` (its default)."""
    found = set()
    for text in re.findall(r"^\t@echo (.+)$", makefile, flags=re.M):
        text = text.strip()
        if text[:1] in "'\"" and text[-1:] == text[:1]:
            text = text[1:-1]
        found.add(text.replace("$(VENV)", ".venv"))
    return found


def compare(sample: list[str], printed: list[str], makefile: str) -> list[str]:
    """Why `sample` is not what the tour printed (`printed`), one problem a line."""
    from_make = {shape(line) for line in make_lines(makefile)}
    problems = []
    wanted = []
    for line in sample:
        if line.startswith(("installing rollout", "next: ")):
            if shape(line) not in from_make:
                problems.append(f"the Makefile prints no such line: {line!r}")
        else:
            wanted.append(line)
    got = list(printed)
    while got and not got[-1].strip():
        got.pop()
    i = j = 0
    while i < len(wanted) or j < len(got):
        w = shape(wanted[i]) if i < len(wanted) else None
        g = shape(got[j]) if j < len(got) else None
        if w is not None and w == g:
            i, j = i + 1, j + 1
        elif g is not None and transient(got[j]):
            j += 1
        elif w is not None and transient(wanted[i]):
            i += 1
        elif w is None:
            problems.append(f"the tour printed a line the README leaves out: {got[j]!r}")
            j += 1
        else:
            at = f"the tour printed {got[j]!r}" if g is not None else "the tour printed no more"
            problems.append(f"README line {wanted[i]!r}: {at}")
            i += 1
    return problems
