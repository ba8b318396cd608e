"""The policy's request rules (issue 20): `setHeaderRoute`, `setMirror` and
`sessionAffinity` — what `rollout validate` refuses, at which line and field, what
`--explain` says of each step, and what each field does to the plan (every field acts
or is refused)."""

from __future__ import annotations

import pathlib
import textwrap
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollout.api import policyspec
from rollout.cli import main

HEAD = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: ab
spec:
  steps:
"""


def _validate(tmp_path: pathlib.Path, steps: str, *extra: str, tail: str = "") -> Result:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(steps), "    ") + tail)
    return CliRunner().invoke(main.cli, ["validate", "-f", str(path), *extra])


@pytest.mark.parametrize(
    ("steps", "line", "field", "word"),
    [
        pytest.param(
            """\
            - setHeaderRoute:
                name: beta
                match:
                  - {header: X-Beta, regex: "(a)\\\\1"}
            """,
            10,
            "spec.steps[0].setHeaderRoute.match[0].regex",
            "backreference",
            id="regex-with-a-backreference",
        ),
        pytest.param(
            """\
            - setHeaderRoute:
                name: beta
                match:
                  - {header: X-Beta, regex: "a(?=b)"}
            """,
            10,
            "spec.steps[0].setHeaderRoute.match[0].regex",
            "lookahead",
            id="regex-with-lookahead",
        ),
        pytest.param(
            """\
            - setHeaderRoute:
                name: beta
                match:
                  - {header: "X Beta", exact: "1"}
            """,
            10,
            "spec.steps[0].setHeaderRoute.match[0].header",
            "not an HTTP header name",
            id="header-name-with-a-space",
        ),
        pytest.param(
            """\
            - setWeight: 10
            - setHeaderRoute: {name: beta}
            """,
            8,
            "spec.steps[1].setHeaderRoute.name",
            "removes the header route 'beta', which no earlier step set",
            id="removing-an-unknown-route",
        ),
        pytest.param(
            """\
            - setMirror: {name: shadow, percent: 10}
            - setMirror: {name: shadow, percent: 0}
            - setMirror: {name: shadow, percent: 0}
            """,
            9,
            "spec.steps[2].setMirror.name",
            "removes the mirror 'shadow', which no earlier step set",
            id="removing-a-mirror-twice",
        ),
        pytest.param(
            """\
            - setMirror: {name: shadow, percent: 101}
            """,
            7,
            "spec.steps[0].setMirror.percent",
            "100",
            id="mirror-percent-above-100",
        ),
        pytest.param(
            """\
            - setHeaderRoute: {name: beta, match: [{header: X-Beta, exact: "1"}]}
            - setMirror: {name: beta, percent: 10}
            """,
            8,
            "spec.steps[1].setMirror.name",
            "already names a header route",
            id="one-name-for-a-route-and-a-mirror",
        ),
        pytest.param(
            """\
            - setHeaderRoute: {name: beta, match: [{cookie: group, prefix: "a"}]}
            """,
            7,
            "spec.steps[0].setHeaderRoute.match[0].prefix",
            "a cookie is matched by exact or regex",
            id="cookie-by-prefix",
        ),
        pytest.param(
            """\
            - setHeaderRoute: {name: beta, match: []}
            """,
            7,
            "spec.steps[0].setHeaderRoute.match",
            "leave match out to remove the route",
            id="empty-match",
        ),
        pytest.param(
            """\
            - setWeight: 10
              setHeaderRoute: {name: beta, match: [{header: X-Beta, exact: "1"}]}
            """,
            7,
            "spec.steps[0]",
            "exactly one of setWeight, pause, analysis, setHeaderRoute, setMirror",
            id="two-kinds-in-one-step",
        ),
    ],
)
def test_a_bad_rule_is_reported_at_its_line_and_field(
    tmp_path: pathlib.Path, steps: str, line: int, field: str, word: str
) -> None:
    """`rollout validate` prints `FILE:LINE: FIELD: message` and exits 2."""
    result = _validate(tmp_path, steps)
    assert result.exit_code == 2, result.output
    prefix = f"{tmp_path / 'policy.yaml'}:{line}: {field}: "
    lines = [x for x in result.stderr.splitlines() if x.startswith(prefix)]
    assert any(word in x for x in lines), result.stderr


def test_session_affinity_without_a_step_that_serves_clients_is_refused(
    tmp_path: pathlib.Path,
) -> None:
    """A cookie no client would get (weight 0 throughout, no header route) is refused."""
    result = _validate(
        tmp_path,
        """\
        - setMirror: {name: shadow, percent: 10}
        - pause: {duration: 1m}
        """,
        tail="  sessionAffinity: {cookieName: canary}\n",
    )
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'policy.yaml'}:9: spec.sessionAffinity: " in result.stderr
    assert "no client would get the cookie" in result.stderr


def test_session_affinity_cookie_name_is_checked(tmp_path: pathlib.Path) -> None:
    result = _validate(
        tmp_path, "- setWeight: 10\n", tail='  sessionAffinity: {cookieName: "a b"}\n'
    )
    assert result.exit_code == 2, result.output
    assert "spec.sessionAffinity.cookieName: " in result.stderr


def test_explain_shows_each_rule(tmp_path: pathlib.Path) -> None:
    result = _validate(
        tmp_path,
        """\
        - setHeaderRoute:
            name: beta
            match:
              - {header: X-Beta, exact: "1"}
              - all: [{cookie: group, regex: "b.*"}, {header: X-Region, prefix: eu}]
        - setMirror: {name: shadow, percent: 10}
        - setMirror: {name: some, percent: 5, match: [{header: X-Beta, exact: "1"}]}
        - pause: {duration: 1m}
        - setHeaderRoute: {name: beta}
        - setMirror: {name: shadow, percent: 0}
        - setWeight: 20
        """,
        "--explain",
        tail="  sessionAffinity: {cookieName: rollout-canary, maxAge: 2h}\n",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "setHeaderRoute beta: header X-Beta = '1' or cookie group ~ 'b.*' and header"
        " X-Region starts with 'eu' → canary"
    ) in out
    assert "setMirror shadow: 10% of all requests → canary" in out
    assert "setMirror some: 5% of requests with header X-Beta = '1' → canary" in out
    assert "setHeaderRoute beta: removed" in out
    assert "setMirror shadow: removed" in out
    assert "cookie rollout-canary (max-age 2h)" in out


def _spec(steps: list[dict[str, Any]], **extra: Any) -> policyspec.RolloutPolicySpec:
    return policyspec.RolloutPolicySpec.model_validate({"steps": steps, **extra})


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [{"setHeaderRoute": {"name": "beta", "match": [{"header": "X-Beta", "exact": "1"}]}}],
            id="a-route-still-set-at-the-end",
        ),
        pytest.param(
            [{"setMirror": {"name": "shadow", "percent": 100}}, {"setWeight": 10}],
            id="a-mirror-with-no-analysis-after-it",
        ),
        pytest.param(
            [
                {"setMirror": {"name": "shadow", "percent": 10}},
                {"setMirror": {"name": "shadow", "percent": 0}},
                {"setMirror": {"name": "shadow", "percent": 20}},
            ],
            id="a-mirror-removed-and-set-again",
        ),
    ],
)
def test_valid_plans_with_rules(steps: list[dict[str, Any]]) -> None:
    """Rules that end with the release, or that no analysis judges, are valid."""
    assert _spec(steps).expanded_steps()


def test_session_affinity_defaults() -> None:
    spec = _spec([{"setWeight": 10}], sessionAffinity={})
    assert spec.session_affinity is not None
    assert spec.session_affinity.cookie_name == "rollout-canary"
    assert spec.session_affinity.max_age.total_seconds() == 86400
