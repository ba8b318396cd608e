"""`rollout diagram`: draw the release state machine from its transitions table.

Thin: the DOT text comes from `rollout.release.diagram` (pure, no Graphviz needed).
This module is the I/O edge: for svg/png it runs the Graphviz `dot` executable (through
the `graphviz` Python package, in `render`), and it writes the result to stdout or a
file. It must not build or change the diagram itself. Registered in `rollout.cli.main`;
`make diagram` uses it to regenerate docs/release-states.svg.

Exit 0 on success; 2 when svg/png is asked and `dot` is not installed (one line on
stderr naming the Debian package).
"""

from __future__ import annotations

import pathlib

import click
import graphviz

from rollout.release import diagram

__all__ = ["FORMATS", "GraphvizMissingError", "diagram_command", "render"]

FORMATS = ("dot", "svg", "png")
DEFAULT_STEM = "release-states"  # svg/png without -o: release-states.<format>


class GraphvizMissingError(RuntimeError):
    """The Graphviz `dot` executable is not on PATH."""


def render(source: str, fmt: str) -> bytes:
    """The `fmt` (svg, png) image of DOT `source`, drawn by the Graphviz `dot` executable.

    Raises GraphvizMissingError when `dot` cannot be found on PATH.
    """
    try:
        image = graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as err:
        raise GraphvizMissingError(
            f"--format {fmt} needs the Graphviz `dot` executable, not found on PATH:"
            " install Graphviz (Debian/Ubuntu package `graphviz`: apt-get install graphviz),"
            " or use --format dot"
        ) from err
    return bytes(image)


@click.command("diagram")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="dot",
    show_default=True,
    help="dot: Graphviz DOT text (needs nothing installed); svg, png: an image drawn by the"
    " Graphviz `dot` executable.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=pathlib.Path),
    help=f"Write to FILE ('-' for stdout). Default: stdout for dot, {DEFAULT_STEM}.<format>"
    " in the current directory for svg and png.",
)
def diagram_command(fmt: str, output: pathlib.Path | None) -> None:
    """Draw the release state machine: its phases and every transition of its table.

    Each edge reads `trigger [conditions]` (`!x`: unless x), one table row per line, in
    the order the rows are tried. Pending has the entry arrow; terminal phases have a
    double border. DOT text needs nothing installed; svg and png need Graphviz `dot`.

    \b
    Examples:
      rollout diagram                        # DOT text on stdout
      rollout diagram | dot -Tpng > states.png
      rollout diagram --format svg -o docs/release-states.svg
      rollout diagram --format png           # writes release-states.png
    """
    source = diagram.dot_source()
    if fmt == "dot":
        data = source.encode("utf-8")
    else:
        try:
            data = render(source, fmt)
        except GraphvizMissingError as err:
            click.echo(f"error: {err}", err=True)
            raise SystemExit(2) from err
        output = output or pathlib.Path(f"{DEFAULT_STEM}.{fmt}")
    if output is None or str(output) == "-":
        click.echo(data, nl=False)  # bytes go to the binary stream, untouched
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    click.echo(f"wrote {output}")
