"""Presets (`providers.presets`): the instant query that returns a release's request
series for each counter family, with hostile names kept inside their matcher."""

from __future__ import annotations

import re

import pytest

from rollout.analysis.providers import presets


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_each_preset_selects_both_revisions_of_one_service(name: str) -> None:
    preset = presets.PRESETS[name]
    query = presets.series_query(
        preset, namespace="shop", service="web", revisions=["web-00002", "web-00001"]
    )
    assert query.startswith(preset.requests + "{")
    assert f'{preset.revision_label}=~"web\\\\-00002|web\\\\-00001"' in query
    assert 'shop"' in query
    assert re.compile(preset.failed)


def test_the_local_proxy_preset_matches_the_proxy_s_own_series() -> None:
    query = presets.series_query(
        presets.PRESETS["rollout-proxy"], namespace="default", service="web", revisions=["web-2"]
    )
    assert query == (
        'rollout_proxy_requests_total{namespace="default", service="web", revision=~"web\\\\-2"}'
    )
    assert re.fullmatch(presets.PRESETS["rollout-proxy"].failed, "5xx")
    assert re.fullmatch(presets.PRESETS["rollout-proxy"].failed, "error")
    assert not re.fullmatch(presets.PRESETS["rollout-proxy"].failed, "4xx")


@pytest.mark.parametrize("hostile", ['a"} or vector(1) #', "a\\", "a\nb", "x|.*"])
def test_a_hostile_name_stays_inside_its_matcher(hostile: str) -> None:
    query = presets.series_query(
        presets.PRESETS["istio"], namespace=hostile, service="web", revisions=[hostile]
    )
    # Outside the double-quoted strings only the selector's own structure is left.
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    assert outside == (
        'istio_requests_total{destination_workload_namespace="", reporter="",'
        ' destination_workload=~""}'
    )
    assert "\n" not in query
