"""RBAC in the emulator: the authorizer's decisions (a table over `kubeemu.authz`), and
enforcement on the wire for the one client a test names (403 `Forbidden` with the
apiserver's message, everyone else unaffected), plus the built-ins it needs (Roles,
RoleBindings, NetworkPolicies, Secrets)."""

from __future__ import annotations

import base64
from typing import Any

import kubeemu
import pytest
from kubeemu import authz, rawclient

SA = authz.Subject(name="ctl", namespace="system")
AGENT = "the-controller/1"


def role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "rules": rules,
    }


def binding(
    kind: str, name: str, ref_kind: str, subjects: list[dict[str, Any]], namespace: str = ""
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": name},
        "subjects": subjects,
    }


SA_SUBJECT = [{"kind": "ServiceAccount", "name": "ctl", "namespace": "system"}]
DEPLOY_RW = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]
POLICY = authz.Policy.of(
    [
        role("Role", "r", DEPLOY_RW, "team-a"),
        binding("RoleBinding", "r", "Role", SA_SUBJECT, "team-a"),
        role(
            "ClusterRole",
            "c",
            [
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["token"],
                    "verbs": ["get"],
                },
                {"apiGroups": ["x.dev"], "resources": ["things/status"], "verbs": ["*"]},
            ],
        ),
        binding("ClusterRoleBinding", "c", "ClusterRole", SA_SUBJECT),
        # a ClusterRole bound in one namespace only
        role("ClusterRole", "v", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        binding("RoleBinding", "v", "ClusterRole", SA_SUBJECT, "team-b"),
        # someone else's grant
        role("Role", "o", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "team-c"),
        binding(
            "RoleBinding",
            "o",
            "Role",
            [{"kind": "ServiceAccount", "name": "other", "namespace": "system"}],
            "team-c",
        ),
    ]
)


@pytest.mark.parametrize(
    ("request_", "ok"),
    [
        pytest.param(
            authz.Attributes("get", "apps", "deployments", "", "team-a", "w"), True, id="role"
        ),
        pytest.param(
            authz.Attributes("list", "apps", "deployments", "", "team-a"), True, id="list-ns"
        ),
        pytest.param(
            authz.Attributes("list", "apps", "deployments", "", ""), False, id="list-cluster"
        ),
        pytest.param(
            authz.Attributes("get", "apps", "deployments", "", "team-b", "w"), False, id="other-ns"
        ),
        pytest.param(
            authz.Attributes("delete", "apps", "deployments", "", "team-a", "w"), False, id="verb"
        ),
        pytest.param(authz.Attributes("create", "", "events", "", "any"), True, id="cluster-role"),
        pytest.param(authz.Attributes("get", "", "secrets", "", "x", "token"), True, id="named"),
        pytest.param(authz.Attributes("get", "", "secrets", "", "x", "other"), False, id="unnamed"),
        pytest.param(authz.Attributes("list", "", "secrets", "", "x"), False, id="names-no-list"),
        pytest.param(
            authz.Attributes("update", "x.dev", "things", "status", "n", "t"), True, id="sub"
        ),
        pytest.param(authz.Attributes("update", "x.dev", "things", "", "n", "t"), False, id="main"),
        pytest.param(authz.Attributes("get", "", "pods", "", "team-b", "p"), True, id="cr-in-ns"),
        pytest.param(authz.Attributes("get", "", "pods", "", "team-a", "p"), False, id="cr-not-ns"),
        pytest.param(authz.Attributes("get", "", "pods", "", "team-c", "p"), False, id="not-mine"),
    ],
)
def test_the_authorizer_decides_as_rbac_does(request_: authz.Attributes, ok: bool) -> None:
    """Bindings' scope, rules' groups, resources, subresources, verbs and names."""
    assert authz.allowed(request_, SA, POLICY) is ok


def _create(emu: kubeemu.Emulator, path: str, body: dict[str, Any], agent: str = "kubectl") -> Any:
    return rawclient.call(emu.url, "POST", path, body=body, headers={"User-Agent": agent})


def test_enforcement_refuses_the_named_client_only(emulator: kubeemu.Emulator) -> None:
    """Once enforced, the controller's calls are decided by the stored RBAC objects
    (403 with the apiserver's message when refused); other clients are unaffected."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    _create(emulator, f"{rbac}/namespaces/default/roles", role("Role", "r", DEPLOY_RW))
    made = _create(
        emulator,
        f"{rbac}/namespaces/default/rolebindings",
        binding("RoleBinding", "r", "Role", SA_SUBJECT),
    )
    assert made.status == 201, made.body
    emulator.enforce_rbac(AGENT, SA)
    headers = {"User-Agent": AGENT}
    listed = rawclient.call(
        emulator.url, "GET", "/apis/apps/v1/namespaces/default/deployments", headers=headers
    )
    assert listed.status == 200
    everywhere = rawclient.call(emulator.url, "GET", "/apis/apps/v1/deployments", headers=headers)
    assert everywhere.status == 403
    assert everywhere.body["reason"] == "Forbidden"
    assert everywhere.body["message"] == (
        'deployments.apps is forbidden: User "system:serviceaccount:system:ctl" cannot list'
        ' resource "deployments" in API group "apps" at the cluster scope'
    )
    services = rawclient.call(
        emulator.url, "GET", "/api/v1/namespaces/default/services/web", headers=headers
    )
    assert services.status == 403
    assert rawclient.call(emulator.url, "GET", "/apis/apps/v1/deployments").status == 200
    assert [r.status_code for r in emulator.requests.matching(user_agent=AGENT)] == [200, 403, 403]
    emulator.enforce_rbac(AGENT, None)
    assert (
        rawclient.call(emulator.url, "GET", "/apis/apps/v1/deployments", headers=headers).status
        == 200
    )


def test_secrets_fold_string_data_and_check_base64(emulator: kubeemu.Emulator) -> None:
    """`stringData` is stored as base64 `data`, as the apiserver does; bad base64 is 422."""
    path = "/api/v1/namespaces/default/secrets"
    made = _create(
        emulator,
        path,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "token"},
            "data": {"a": base64.b64encode(b"1").decode()},
            "stringData": {"b": "two"},
        },
    )
    assert made.status == 201, made.body
    assert made.body["type"] == "Opaque"
    assert "stringData" not in made.body
    assert made.body["data"] == {"a": "MQ==", "b": base64.b64encode(b"two").decode()}
    bad = _create(
        emulator,
        path,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"a": "%%"}},
    )
    assert bad.status == 422


@pytest.mark.parametrize(
    ("group", "plural", "kind"),
    [
        ("rbac.authorization.k8s.io", "roles", "Role"),
        ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
        ("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
        ("", "secrets", "Secret"),
    ],
)
def test_the_new_builtins_are_served_and_namespaced(
    emulator: kubeemu.Emulator, group: str, plural: str, kind: str
) -> None:
    """Discoverable, namespaced (as kubectl must know to apply them)."""
    root = f"/apis/{group}/v1" if group else "/api/v1"
    found = rawclient.call(emulator.url, "GET", root).body
    (entry,) = [r for r in found["resources"] if r["name"] == plural]
    assert entry["kind"] == kind
    assert entry["namespaced"] is True


def test_owner_references_pass_owner_reference_permission_enforcement(
    emulator: kubeemu.Emulator,
) -> None:
    """A reference with blockOwnerDeletion needs update on the owner's finalizers (403
    with the apiserver's message without it, recorded with the request for
    `assert_granted`); changing ownerReferences on an update needs delete on the
    object; a reference that does not block needs neither."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    cms = "/api/v1/namespaces/default/configmaps"
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "update"]}]
    _create(emulator, f"{rbac}/namespaces/default/roles", role("Role", "r", rules))
    _create(
        emulator,
        f"{rbac}/namespaces/default/rolebindings",
        binding("RoleBinding", "r", "Role", SA_SUBJECT),
    )
    owner = _create(
        emulator, cms, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o"}}
    )
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "o",
        "uid": owner.body["metadata"]["uid"],
    }
    emulator.enforce_rbac(AGENT, SA)

    def child(name: str, **extra: Any) -> dict[str, Any]:
        meta = {"name": name, "ownerReferences": [{**ref, **extra}]}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}

    refused = _create(emulator, cms, child("c", blockOwnerDeletion=True), AGENT)
    assert refused.status == 403
    assert refused.body["message"] == (
        'configmaps "c" is forbidden: cannot set blockOwnerDeletion if an ownerReference'
        " refers to a resource you can't set finalizers on: , <nil>"
    )
    (check,) = emulator.requests.matching(user_agent=AGENT)[-1].admission
    assert check.attributes == authz.Attributes(
        "update", "", "configmaps", "finalizers", "default", "o"
    )
    loose = _create(emulator, cms, child("c"), AGENT)
    assert loose.status == 201
    body = {**loose.body, "metadata": {**loose.body["metadata"], "ownerReferences": []}}
    put = rawclient.call(emulator.url, "PUT", f"{cms}/c", body=body, headers={"User-Agent": AGENT})
    assert put.status == 403
    assert "cannot set an ownerRef on a resource you can't delete" in put.body["message"]
    finalizers = {"apiGroups": [""], "resources": ["configmaps/finalizers"], "verbs": ["update"]}
    grant = role("Role", "r", [*rules, finalizers], "default")
    emulator.enforce_rbac(AGENT, None)
    done = rawclient.call(emulator.url, "PUT", f"{rbac}/namespaces/default/roles/r", body=grant)
    assert done.status == 200, done.body
    emulator.enforce_rbac(AGENT, SA)
    assert _create(emulator, cms, child("d", blockOwnerDeletion=True), AGENT).status == 201
