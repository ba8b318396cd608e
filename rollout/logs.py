"""Logging, configured once at an entry point (`rollout controller`).

structlog with a console renderer on a terminal and one JSON object per line
otherwise (DESIGN §8). Modules use `structlog.get_logger(__name__)` and bind context
(`kind, namespace, name`) per unit of work.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ["configure"]


def configure(
    *, json_lines: bool | None = None, level: int = logging.INFO, file: TextIO | None = None
) -> None:
    """Log to `file` (default stderr): console lines on a terminal, JSON otherwise."""
    out = file or sys.stderr
    if json_lines is None:
        json_lines = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
