"""The release state machine as a Graphviz DOT diagram, drawn from the transitions table.

    dot_source() -> str

Builds a `transitions` `GraphMachine` (graph engine "graphviz") over a dummy model
from `table.ROWS` — the same rows `engine.decide()` runs, so the picture cannot drift
from the machine. Each edge is labelled `trigger [conditions]`, where `!name` is an
`unless` condition; rows that share a source and a destination are stacked on one edge
in table order (the order they are tried) and separated by `|`. The initial phase,
Pending, has an entry arrow; terminal phases are drawn with a double border.

Pure: returns DOT text only. The `graphviz` Python package only assembles that text; it
never runs the `dot` executable here (rendering svg/png is the CLI's I/O, in
`rollout.cli.diagram_cmd`), so DOT works without Graphviz installed. Nothing is fired
on the machine and no condition or callback is resolved. Called by `rollout diagram`.
"""

from __future__ import annotations

import graphviz
from transitions.extensions import diagrams

from rollout.api import release
from rollout.release import table

__all__ = ["INITIAL", "LEGEND", "NAME", "dot_source", "edge_label"]

INITIAL = release.Phase.PENDING
NAME = "release"
LEGEND = (
    r"Release phases\ledge label: trigger [conditions], !x = unless x, one table row per line\l"
)
_START = "__start__"  # the dot the entry arrow leaves from

_STYLES = {
    # Replaces the library's "active" styling of the model's current phase: the diagram
    # describes the machine, not one release.
    "initial": {"color": "black", "fillcolor": "white", "peripheries": "1"},
    "terminal": {"color": "black", "fillcolor": "lightgrey", "peripheries": "2"},
}


class _Model:
    """The dummy model the machine is attached to; it is never triggered."""

    state: str


def edge_label(row: table.Row) -> str:
    """`trigger [cond & !unless]`, ending in a left-aligned DOT line break (`\\l`)."""
    conditions = " & ".join([*row.conditions, *(f"!{name}" for name in row.unless)])
    text = f"{row.trigger.value} [{conditions}]" if conditions else row.trigger.value
    return text + r"\l"


def dot_source() -> str:
    """The DOT text of the release state machine."""
    model = _Model()
    machine = diagrams.GraphMachine(
        model=model,
        states=[phase.value for phase in release.Phase],
        transitions=[
            {
                "trigger": row.trigger.value,
                "source": [phase.value for phase in row.source],
                "dest": row.dest.value,
                "conditions": list(row.conditions),  # names only: never resolved here
                "unless": list(row.unless),
                "label": edge_label(row),
            }
            for row in table.ROWS
        ],
        initial=INITIAL.value,
        auto_transitions=False,
        ignore_invalid_triggers=True,
        graph_engine="graphviz",
        show_conditions=False,  # the label already carries them, one row per line
        title=NAME,
    )
    # Per machine, never the class-level tables every GraphMachine shares.
    machine.machine_attributes = {**machine.machine_attributes, "rankdir": "TB"}
    node_styles = machine.style_attributes["node"]
    assert isinstance(node_styles, dict)
    machine.style_attributes = {**machine.style_attributes, "node": {**node_styles, **_STYLES}}
    builder = machine.model_graphs[id(model)]
    builder.set_node_style(INITIAL.value, "initial")
    for phase in release.Phase:
        if phase in release.TERMINAL_PHASES:
            builder.set_node_style(phase.value, "terminal")
    graph = builder.get_graph(title=NAME)
    if not isinstance(graph, graphviz.Digraph):  # transitions falls back to mermaid silently
        raise RuntimeError("the graphviz Python package is required to build the diagram")
    graph.graph_attr["label"] = LEGEND
    graph.node(_START, label="", shape="point", style="filled", fillcolor="black", width="0.15")
    graph.edge(_START, INITIAL.value)
    return str(graph.source)
