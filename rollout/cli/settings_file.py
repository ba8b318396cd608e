"""`--config FILE`: a command's options from a YAML file (a ConfigMap on a cluster).

The file is a mapping of the command's long option names without their dashes —
`prometheus-url: http://prometheus.monitoring:9090`, `preset: istio`,
`prometheus-header: [X-Scope-OrgID=team-a]` — each the value the flag would take.
They become the command's defaults (click's `default_map`), so a flag on the command
line still wins, and every value is checked by the option's own type and rules, as
if it had been typed. An unreadable file, YAML that is not a mapping, or a key that
names no option of the command is one line `FILE:LINE: …` and exit 2; nothing runs.

Used by `rollout controller --config` (the controller's metrics source, Prometheus
access, leader election … set once in a file).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import click
import yaml

from rollout.cli import common

__all__ = ["config_option"]

F = TypeVar("F", bound=Callable[..., Any])


def config_option(command: F) -> F:
    """Add `--config FILE` to `command`: its options' defaults from the file."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        is_eager=True,
        expose_value=False,
        callback=_load,
        help="A YAML file of this command's options (long names, e.g. `prometheus-url:`);"
        " flags on the command line win.",
    )(command)


def _load(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    try:
        text = pathlib.Path(value).read_text(encoding="utf-8")
        node = yaml.compose(text)
    except (OSError, UnicodeDecodeError) as exc:
        common.fail(f"--config {value}: cannot read it: {exc}", code=2)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        common.fail(f"{value}:{line}: not YAML: {getattr(exc, 'problem', exc)}", code=2)
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        common.fail(f"{value}:{node.start_mark.line + 1}: must be a mapping of options", code=2)
    by_flag: dict[str, str] = {}
    for option in ctx.command.params:
        flag = _flag(option)
        if option.name and option.name != param.name and flag is not None:
            by_flag[flag] = option.name
    found: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        target = by_flag.get(key)
        if target is None:
            known = ", ".join(sorted(by_flag))
            common.fail(
                f"{value}:{key_node.start_mark.line + 1}: {key}: not an option of"
                f" `rollout {ctx.command.name}` (known: {known})",
                code=2,
            )
        found[target] = yaml.safe_load(yaml.serialize(value_node))
    ctx.default_map = {**(ctx.default_map or {}), **found}


def _flag(p: click.Parameter) -> str | None:
    """The long option name without dashes (`prometheus-url`), or None."""
    longs = [str(o) for o in p.opts if o.startswith("--")]
    if not longs:
        return None
    return longs[0][2:].split("/")[0]
