"""Query templates: `{{variable}}` placeholders in metric queries and URLs.

Only the variables of DESIGN §5 exist: `service namespace revision stable canary
window`. An unknown variable or an unclosed `{{` is a validation error, so a typo
never reaches Prometheus as literal text. Rendering (with PromQL escaping) belongs to
the analysis layer; this module only finds and checks placeholders.

Pure; no I/O.
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDER", "VARIABLES", "template_errors", "variables_in"]

VARIABLES = frozenset({"service", "namespace", "revision", "stable", "canary", "window"})
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def variables_in(text: str) -> list[str]:
    """The names used in `{{ … }}` placeholders, in order of appearance."""
    return PLACEHOLDER.findall(text)


def template_errors(text: str) -> list[str]:
    """Messages for unknown variables and unbalanced braces; empty when the text is fine."""
    errors = []
    for name in variables_in(text):
        if name not in VARIABLES:
            known = ", ".join(sorted(VARIABLES))
            errors.append(f"unknown template variable {{{{{name}}}}} (known: {known})")
    rest = PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        errors.append("unbalanced '{{' or '}}' in template")
    return errors
