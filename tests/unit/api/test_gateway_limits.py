"""Upstream limits checked by `rollout validate` (issue 18, finding 3): what the
Gateway API's HTTPRoute would refuse — at most 16 rules (a rule per tag plus the
weighted one) and 16 backendRefs per rule, hostnames matching its pattern (no port, no
upper case, at most 253 characters, at most 16), at most 32 parentRefs — is refused
offline, each problem at its line and field path."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner, Result

from rollout.cli import main

HEAD = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: app, image: "registry.example/web:1"}]
"""


def validate(tmp_path: pathlib.Path, body: str) -> tuple[Result, pathlib.Path]:
    path = tmp_path / "web.yaml"
    path.write_text(HEAD + body)
    return CliRunner().invoke(main.cli, ["validate", "-f", str(path)]), path


def split(tags: int, weighted: int = 1, router: str | None = None) -> str:
    """A manual split of max(tags, weighted) targets: the first `weighted` share 100%."""
    lines = ["  traffic:"]
    count = max(tags, weighted)
    shares = [100 // weighted + (1 if i < 100 % weighted else 0) for i in range(weighted)]
    for i in range(count):
        percent = shares[i] if i < weighted else 0
        tag = f", tag: t{i}" if i < tags else ""
        lines.append(f"    - {{revisionName: web-{i + 1:05d}, percent: {percent}{tag}}}")
    if router:
        lines.append(f"  routing: {{router: {router}}}")
    return "\n".join(lines) + "\n"


def test_seventeen_tags_are_refused_at_the_traffic_line(tmp_path: pathlib.Path) -> None:
    result, path = validate(tmp_path, split(17))
    assert result.exit_code == 2, result.output
    assert f"{path}:8: spec.traffic: 17 tags: an HTTPRoute has at most 16 rules" in result.stderr


def test_fifteen_tags_fit_and_istio_takes_more(tmp_path: pathlib.Path) -> None:
    result, _ = validate(tmp_path, split(15))
    assert result.exit_code == 0, result.stderr
    result, _ = validate(tmp_path, split(17, router="istio"))
    assert result.exit_code == 0, result.stderr


def test_seventeen_targets_with_traffic_are_refused(tmp_path: pathlib.Path) -> None:
    result, path = validate(tmp_path, split(0, weighted=17))
    assert result.exit_code == 2, result.output
    assert f"{path}:8: spec.traffic: 17 targets with traffic" in result.stderr
    assert "at most 16 backendRefs" in result.stderr


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("Web.Example.com:8080", "a port is not part of a hostname"),
        ("Web.Example.com", "upper case is not allowed"),
        ("web..example.com", "labels of a-z"),
        ("-web.example.com", "labels of a-z"),
        ("web.*.example.com", "labels of a-z"),
        ("a" * 254, "at most 253 characters"),
    ],
    ids=["port", "upper-case", "empty-label", "leading-dash", "inner-wildcard", "too-long"],
)
def test_a_hostname_the_gateway_api_refuses_is_refused(
    tmp_path: pathlib.Path, host: str, why: str
) -> None:
    body = f'  routing:\n    hostnames: [web.example.com, "{host}"]\n'
    result, path = validate(tmp_path, body)
    assert result.exit_code == 2, result.output
    line = f"{path}:9: spec.routing.hostnames[1]: {host!r} is not a Gateway API hostname ({why}"
    assert line in result.stderr, result.stderr


def test_gateway_api_hostnames_and_wildcards_are_accepted(tmp_path: pathlib.Path) -> None:
    hosts = "web.example.com, '*.example.com', localhost, 10-0-0-1.nip.io"
    body = f"  routing:\n    hostnames: [{hosts}]\n"
    result, _ = validate(tmp_path, body)
    assert result.exit_code == 0, result.stderr


def test_too_many_hostnames_and_parent_refs_are_refused(tmp_path: pathlib.Path) -> None:
    hosts = ", ".join(f"h{i}.example.com" for i in range(17))
    parents = ", ".join(f"{{name: gw{i}}}" for i in range(33))
    body = f"  routing:\n    hostnames: [{hosts}]\n    parentRefs: [{parents}]\n"
    result, path = validate(tmp_path, body)
    assert result.exit_code == 2, result.output
    assert f"{path}:9: spec.routing.hostnames: at most 16" in result.stderr
    assert f"{path}:10: spec.routing.parentRefs: at most 32" in result.stderr


def test_a_parent_ref_kind_that_is_not_a_kind_is_refused(tmp_path: pathlib.Path) -> None:
    body = "  routing:\n    parentRefs: [{name: public, kind: 'Gate way'}]\n"
    result, path = validate(tmp_path, body)
    assert result.exit_code == 2, result.output
    assert f"{path}:9: spec.routing.parentRefs[0].kind: must be a kind name" in result.stderr
