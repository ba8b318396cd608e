"""`rollout diagram`: the release state machine drawn from its table, as a user gets it."""

from __future__ import annotations

import pathlib
import re

import pytest
from click.testing import CliRunner, Result

from rollout.api import release
from rollout.cli import main
from rollout.release import diagram, table, triggers

# One DOT edge statement: `Source -> Dest [label="..."]`.
EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label="(.*)"\]$', re.MULTILINE)
# One DOT node statement with attributes: `Name [label="Name\l" ...]`.
NODE = re.compile(r"^\s*(\w+) \[label=.*?\]$", re.MULTILINE)


def _run(*args: str) -> Result:
    return CliRunner().invoke(main.cli, ["diagram", *args])


def _dot() -> str:
    result = _run()
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _edges(dot: str) -> dict[tuple[str, str], list[str]]:
    """(source, dest) → the label lines of that edge (one table row per line)."""
    return {
        (src, dst): [line.strip().removeprefix("| ") for line in label.split(r"\l") if line]
        for src, dst, label in EDGE.findall(dot)
    }


def _nodes(dot: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in NODE.finditer(dot)}


class TestDotText:
    def test_dot_is_the_default_and_goes_to_stdout(self) -> None:
        """No options: DOT text of a digraph on stdout, nothing on stderr."""
        result = _run()
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("digraph release {")
        assert result.stdout.rstrip().endswith("}")
        assert result.stderr == ""

    def test_every_phase_is_a_node(self) -> None:
        """Each phase, terminal or not, is drawn."""
        assert set(_nodes(_dot())) >= {phase.value for phase in release.Phase}

    def test_every_trigger_of_the_table_labels_an_edge(self) -> None:
        """Every trigger used by a row, and every Trigger, appears on an edge label."""
        lines = [line for labels in _edges(_dot()).values() for line in labels]
        used = {line.split(" ")[0] for line in lines}
        assert (
            used == {row.trigger.value for row in table.ROWS} == {t.value for t in triggers.Trigger}
        )

    def test_every_row_is_one_label_line_on_each_of_its_edges(self) -> None:
        """Each row appears, with its conditions and `!unless`, on the edge of every source."""
        edges = _edges(_dot())
        expected: dict[tuple[str, str], list[str]] = {}
        for row in table.ROWS:
            for source in row.source:
                label = diagram.edge_label(row).removesuffix(r"\l")
                expected.setdefault((source.value, row.dest.value), []).append(label)
        assert {k: v for k, v in edges.items() if k[0] != "__start__"} == expected

    def test_conditions_and_unless_are_readable(self) -> None:
        """A row with conditions and an unless reads `trigger [cond & !unless]`."""
        row = next(r for r in table.ROWS if r.name == "analysis-failed")
        assert diagram.edge_label(row) == r"tick [analysis_failed & !pause_on_failure]\l"
        edges = _edges(_dot())
        assert "tick [analysis_failed & !pause_on_failure]" in edges[("Progressing", "RollingBack")]
        assert (
            "resume [!at_pause_step & !waiting_for_confirmation]"
            in edges[("Paused", "Progressing")]
        )
        assert "supersede" in edges[("Pending", "Superseded")]

    def test_terminal_phases_have_a_double_border_and_others_do_not(self) -> None:
        """peripheries=2 marks exactly the terminal phases."""
        nodes = _nodes(_dot())
        double = {name for name, line in nodes.items() if "peripheries=2" in line}
        assert double == {phase.value for phase in release.TERMINAL_PHASES}

    def test_pending_is_the_initial_phase(self) -> None:
        """One entry arrow, into Pending; no phase is styled as a release's current one."""
        dot = _dot()
        assert re.findall(r"^\s*__start__ -> (\w+)$", dot, re.MULTILINE) == ["Pending"]
        assert "darksalmon" not in dot

    def test_dot_does_not_need_graphviz_installed(
        self, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With no `dot` on PATH, DOT text is still printed."""
        monkeypatch.setenv("PATH", str(tmp_path))
        assert _run().stdout == diagram.dot_source()

    def test_dot_to_a_file(self, tmp_path: pathlib.Path) -> None:
        """-o FILE writes the DOT text there (creating the directory) and says so."""
        out = tmp_path / "docs" / "states.dot"
        result = _run("-o", str(out))
        assert result.exit_code == 0, result.stderr
        assert out.read_text(encoding="utf-8") == diagram.dot_source()
        assert result.stdout == f"wrote {out}\n"


class TestImages:
    def test_svg_to_a_file(self, tmp_path: pathlib.Path) -> None:
        """--format svg draws every phase with Graphviz `dot` (installed by `make test`)."""
        out = tmp_path / "release-states.svg"
        result = _run("--format", "svg", "-o", str(out))
        assert result.exit_code == 0, result.stderr
        svg = out.read_text(encoding="utf-8")
        assert "<svg" in svg
        assert all(f">{phase.value}</text>" in svg for phase in release.Phase)

    def test_png_defaults_to_release_states_png(
        self, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--format png without -o writes release-states.png in the current directory."""
        monkeypatch.chdir(tmp_path)
        result = _run("--format", "png")
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / "release-states.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert result.stdout == "wrote release-states.png\n"

    def test_svg_to_stdout_with_dash(self) -> None:
        """-o - sends the image to stdout."""
        result = _run("--format", "svg", "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert "<svg" in result.stdout

    @pytest.mark.parametrize("fmt", ["svg", "png"])
    def test_missing_dot_exits_2_with_one_line(
        self, fmt: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No `dot` on PATH: exit 2, one stderr line naming the `graphviz` package, no file."""
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        out = tmp_path / f"states.{fmt}"
        result = _run("--format", fmt, "-o", str(out))
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"error: --format {fmt} needs the Graphviz `dot`")
        assert "package `graphviz`" in result.stderr
        assert result.stdout == ""
        assert not out.exists()


def test_committed_svg_shows_every_row() -> None:
    """docs/release-states.svg carries every row of the current table (else `make diagram`)."""
    svg = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "release-states.svg").read_text(
        encoding="utf-8"
    )
    for row in table.ROWS:
        label = diagram.edge_label(row).removesuffix(r"\l")
        assert label.replace("&", "&amp;") in svg, row.name
