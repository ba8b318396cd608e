"""Literal credentials in a policy are valid but warned about, and never shown by --explain.

A literal value of a credential-like header, or credentials in a provider's or a
webhook's URL, is stored in the policy and copied into every release: the loader gives
a warning at the field (`Parsed.warnings`), the document stays valid. Credentials read
with `valueFrom` give none, and `validate --explain` names their source only.
"""

from __future__ import annotations

import textwrap

import pytest

from rollout.api import documents, rolloutpolicy
from rollout.cli import explain

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gate
spec:
  steps:
    - setWeight: 10
    - analysis: {duration: 1m}
  analysis:
    metrics:
      - name: errors
        thresholds: {max: 1}
        provider:
"""

PROVIDER = "spec.analysis.metrics[0].provider"
LITERAL = (
    "a literal credential is stored in the policy and copied into every release;"
    " use valueFrom (env, file or secretKeyRef)"
)


def _provider(lines: str) -> str:
    return POLICY + textwrap.indent(textwrap.dedent(lines), " " * 10)


def _web(headers: str, url: str = "http://metrics.example/q") -> str:
    """A web provider; its first header on line 17."""
    return _provider(
        f'web:\n  url: "{url}"\n  headers:\n' + textwrap.indent(textwrap.dedent(headers), "    ")
    )


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "x-auth-token",
        "X-Client-Secret",
        "Private-Token",
        "X-Password",
    ],
)
def test_a_literal_credential_header_is_a_warning_not_a_problem(name: str) -> None:
    """The document is valid; one warning at the header, in the documented words."""
    parsed = documents.parse(_web(f"{name}: 'Bearer s3cr3t'\n"), "p.yaml")
    assert parsed.diagnostics == []
    assert len(parsed.documents) == 1
    assert [str(w) for w in parsed.warnings] == [
        f"p.yaml:17: {PROVIDER}.web.headers.{name}: warning: {LITERAL}"
    ]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param("Authorization: {valueFrom: {env: METRICS_TOKEN}}\n", id="from-env"),
        pytest.param("Authorization: {valueFrom: {file: /run/secrets/token}}\n", id="from-file"),
        pytest.param(
            "Authorization: {valueFrom: {secretKeyRef: {name: prom, key: token}}}\n",
            id="from-secret",
        ),
        pytest.param("Accept: application/json\nX-Trace: '1'\n", id="ordinary-headers"),
    ],
)
def test_references_and_ordinary_headers_give_no_warning(headers: str) -> None:
    """Only literal values of credential-like headers are warned about."""
    parsed = documents.parse(_web(headers), "p.yaml")
    assert parsed.diagnostics == []
    assert parsed.warnings == []


@pytest.mark.parametrize(
    ("document", "line", "field", "what"),
    [
        pytest.param(
            _provider('web: {url: "https://bob:hunter2@metrics.example/q"}\n'),
            14,
            f"{PROVIDER}.web.url",
            "credentials before its host (user:pass@host)",
            id="web-url-user-password",
        ),
        pytest.param(
            _provider('web: {url: "https://metrics.example/q?x=1&api_key=abc123"}\n'),
            14,
            f"{PROVIDER}.web.url",
            "the query parameter 'api_key'",
            id="web-url-query-key",
        ),
        pytest.param(
            _provider('prometheus: {address: "https://u:p@prom.example", query: up}\n'),
            14,
            f"{PROVIDER}.prometheus.address",
            "credentials before its host",
            id="prometheus-address",
        ),
    ],
)
def test_credentials_in_urls_are_warnings(document: str, line: int, field: str, what: str) -> None:
    """`user:pass@` and credential-named query parameters: a warning at the URL's line."""
    parsed = documents.parse(document, "p.yaml")
    assert parsed.diagnostics == []
    assert [(w.line, w.field, w.severity) for w in parsed.warnings] == [(line, field, "warning")]
    assert f"the URL holds {what}" in parsed.warnings[0].message


def test_a_placeholder_in_a_query_is_not_a_credential() -> None:
    """`?key={{canary}}` is filled in at measurement time: no warning."""
    document = _provider('web: {url: "https://m.example/q?key={{canary}}"}\n')
    parsed = documents.parse(document, "p.yaml")
    assert parsed.diagnostics == []
    assert parsed.warnings == []


def test_warnings_and_problems_are_kept_apart() -> None:
    """An invalid document gives problems only; a valid one next to it keeps its warning."""
    bad = POLICY.replace("setWeight: 10", "setWeight: 150") + "          local: {stat: errors}\n"
    good = _web("Authorization: 'Bearer s3cr3t'\n").replace("name: gate", "name: other")
    parsed = documents.parse(bad + "---\n" + good, "p.yaml")
    assert [d.field for d in parsed.diagnostics] == ["spec.steps[0].setWeight"]
    assert [d.severity for d in parsed.diagnostics] == ["error"]
    assert [w.line for w in parsed.warnings] == [17 + bad.count("\n") + 1]


def test_explain_names_sources_and_hides_literal_credentials() -> None:
    """`--explain` shows `from env TOKEN`, never a credential's value, nor a URL password."""
    document = _web(
        "Authorization: 'Bearer s3cr3t'\n"
        "X-Api-Key: {valueFrom: {env: METRICS_KEY}}\n"
        "X-Org: {valueFrom: {secretKeyRef: {name: prom, key: org}}}\n"
        "Accept: application/json\n",
        url="https://bob:hunter2@metrics.example/q?api_key=abc123&x=1",
    )
    (doc,) = documents.parse(document, "p.yaml").documents
    assert isinstance(doc.resource, rolloutpolicy.RolloutPolicy)
    text = explain.explain(doc)
    assert "s3cr3t" not in text
    assert "hunter2" not in text
    assert "abc123" not in text
    assert "Authorization: (literal, hidden)" in text
    assert "X-Api-Key: from env METRICS_KEY" in text
    assert "X-Org: from secret prom key org" in text
    assert "Accept: application/json" in text
    assert "https://***@metrics.example/q?api_key=***&x=1" in text
