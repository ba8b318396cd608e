"""RBAC, as the apiserver's authorizer decides it, for one client the tests name.

The emulator has no authentication: every client is anonymous and may do anything.
A test that wants to prove a client needs no more than its RBAC objects grant tells
the emulator which requests are whose (`emu.enforce_rbac(user_agent, subject)`: the
requests whose User-Agent contains `user_agent` are made by `subject`, e.g. the
ServiceAccount `rollout-system/rollout-controller`); those requests are then decided
from the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings stored in the
emulator (applied with kubectl like any object), and refused with the apiserver's 403
`Forbidden` Status when nothing grants them.

The decision (`allowed`) follows the RBAC authorizer: a ClusterRoleBinding's
ClusterRole applies everywhere (cluster-scoped requests and every namespace); a
RoleBinding's Role or ClusterRole applies in the binding's namespace only; a rule
matches on apiGroups, resources (`resource/subresource` for a subresource), verbs
(`*` anywhere is a wildcard) and, when it lists `resourceNames`, only a request for
one of those names (so never a list, a watch or a create). Subjects are
ServiceAccounts (`system:serviceaccount:NS:NAME`, with the groups
`system:serviceaccounts` and `system:serviceaccounts:NS`), Users and Groups.
Aggregated ClusterRoles, non-resource URLs and impersonation are not modelled.

A rule's `*/sub` matches subresource `sub` of any resource, as in RBAC.

`owner_checks` is the OwnerReferencesPermissionEnforcement admission plugin (on by
default in OpenShift) as pure data: a write that changes an object's
`ownerReferences` needs, for an update, `delete` on the object itself ("cannot set
an ownerRef on a resource you can't delete"), and for each reference it newly sets
with `blockOwnerDeletion: true`, `update` on the owner's `finalizers` subresource
("cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't
set finalizers on") — unless the user may update `*/finalizers` in every group.
`api.py` refuses such a write of the enforced client with the apiserver's 403
(`admission_denial`) and records the checks with the request, so `assert_granted`
judges them too.

Pure: `allowed` takes the RBAC objects as dicts. Called by `api.py` (enforcement)
and by tests (`kubecluster.assert_granted` judges recorded requests with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FINALIZE_ANYTHING",
    "Attributes",
    "Check",
    "Enforcement",
    "Policy",
    "Subject",
    "admission_denial",
    "allowed",
    "denial",
    "owner_checks",
]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Subject:
    """Who makes the requests: a ServiceAccount (namespace and name) by default."""

    name: str
    namespace: str = ""
    kind: str = "ServiceAccount"

    @property
    def user(self) -> str:
        if self.kind == "ServiceAccount":
            return f"system:serviceaccount:{self.namespace}:{self.name}"
        return self.name

    @property
    def groups(self) -> frozenset[str]:
        if self.kind == "ServiceAccount":
            return frozenset(
                {
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{self.namespace}",
                    "system:authenticated",
                }
            )
        return frozenset({"system:authenticated"})


@dataclass(frozen=True)
class Attributes:
    """What a request asks for, as RBAC sees it (namespace "" when cluster-wide)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Policy:
    """The RBAC objects to decide with."""

    cluster_roles: tuple[Obj, ...] = ()
    cluster_role_bindings: tuple[Obj, ...] = ()
    roles: tuple[Obj, ...] = ()
    role_bindings: tuple[Obj, ...] = ()

    @classmethod
    def of(cls, docs: Iterable[Obj]) -> Policy:
        """The RBAC objects among `docs` (e.g. what `rollout install --print` prints)."""
        by_kind: dict[str, list[Obj]] = {}
        for doc in docs:
            if str(doc.get("apiVersion", "")).startswith("rbac.authorization.k8s.io/"):
                by_kind.setdefault(str(doc.get("kind")), []).append(doc)
        return cls(
            cluster_roles=tuple(by_kind.get("ClusterRole", ())),
            cluster_role_bindings=tuple(by_kind.get("ClusterRoleBinding", ())),
            roles=tuple(by_kind.get("Role", ())),
            role_bindings=tuple(by_kind.get("RoleBinding", ())),
        )


@dataclass(frozen=True)
class Enforcement:
    """Requests whose User-Agent contains `user_agent` are `subject`'s."""

    user_agent: str
    subject: Subject


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _names(entry: Obj, binding: Obj, subject: Subject) -> bool:
    kind, name = entry.get("kind"), entry.get("name")
    if kind == "ServiceAccount":
        namespace = entry.get("namespace") or _ns(binding)
        return subject.kind == kind and (namespace, name) == (subject.namespace, subject.name)
    if kind == "User":
        return name == subject.user
    return kind == "Group" and name in subject.groups


def _binds(binding: Obj, subject: Subject) -> bool:
    return any(_names(entry, binding, subject) for entry in binding.get("subjects") or [])


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values)


def _resource_matches(values: Iterable[str], req: Attributes) -> bool:
    resource = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    return any(
        v in ("*", resource) or (bool(req.subresource) and v == f"*/{req.subresource}")
        for v in values
    )


def _rule_allows(rule: Obj, req: Attributes) -> bool:
    if not _matches(rule.get("apiGroups") or [], req.group):
        return False
    if not _resource_matches(rule.get("resources") or [], req):
        return False
    if not _matches(rule.get("verbs") or [], req.verb):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(req.name) and req.name in names)


def _rules(kind: str, name: str, namespace: str, policy: Policy) -> list[Obj]:
    if kind == "ClusterRole":
        found = [r for r in policy.cluster_roles if _name(r) == name]
    elif kind == "Role":
        found = [r for r in policy.roles if _name(r) == name and _ns(r) == namespace]
    else:
        found = []
    return [rule for role in found for rule in role.get("rules") or []]


def allowed(req: Attributes, subject: Subject, policy: Policy) -> bool:
    """Whether RBAC lets `subject` make `req` under `policy`."""
    for binding in policy.cluster_role_bindings:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "ClusterRole" or not _binds(binding, subject):
            continue
        if any(
            _rule_allows(r, req) for r in _rules("ClusterRole", str(ref.get("name")), "", policy)
        ):
            return True
    if not req.namespace:
        return False
    for binding in policy.role_bindings:
        if _ns(binding) != req.namespace or not _binds(binding, subject):
            continue
        ref = binding.get("roleRef") or {}
        rules = _rules(str(ref.get("kind")), str(ref.get("name")), req.namespace, policy)
        if any(_rule_allows(r, req) for r in rules):
            return True
    return False


def denial(req: Attributes, subject: Subject) -> str:
    """The apiserver's message for a request RBAC refuses."""
    what = f"{req.resource}.{req.group}" if req.group else req.resource
    named = f' "{req.name}"' if req.name else ""
    resource = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    where = f' in the namespace "{req.namespace}"' if req.namespace else " at the cluster scope"
    return (
        f'{what}{named} is forbidden: User "{subject.user}" cannot {req.verb} resource'
        f' "{resource}" in API group "{req.group}"{where}'
    )


FINALIZE_ANYTHING = Attributes(verb="update", group="*", resource="*", subresource="finalizers")
OWNER_REF_DENIED = "cannot set an ownerRef on a resource you can't delete: , <nil>"
BLOCK_DENIED = (
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't"
    " set finalizers on: , <nil>"
)


@dataclass(frozen=True)
class Check:
    """A permission a write needs besides its own (admission), and the refusal's words."""

    attributes: Attributes
    refusal: str
    alternative: Attributes | None = None  # granted instead, it suffices too


def _blocking(obj: Obj | None) -> dict[str, Obj]:
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return {
        str(r.get("uid")): r
        for r in refs
        if isinstance(r, Mapping) and r.get("blockOwnerDeletion") is True
    }


def owner_checks(
    request: Attributes,
    new: Obj,
    old: Obj | None,
    owner_resource: Callable[[str, str], tuple[str, str] | None],
) -> list[Check]:
    """What OwnerReferencesPermissionEnforcement asks of a create (`old` None) or
    update of `new`; `owner_resource(apiVersion, kind)` is the owner's (group, plural)."""
    refs = (new.get("metadata") or {}).get("ownerReferences") or []
    before = ((old or {}).get("metadata") or {}).get("ownerReferences") or []
    if refs == before:
        return []
    checks = []
    if old is not None:
        itself = Attributes(
            "delete", request.group, request.resource, "", request.namespace, request.name
        )
        checks.append(Check(itself, OWNER_REF_DENIED))
    had = _blocking(old)
    for uid, ref in _blocking(new).items():
        if uid in had:
            continue
        found = owner_resource(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        group, resource = found if found is not None else ("", str(ref.get("kind") or ""))
        owner = Attributes(
            "update", group, resource, "finalizers", request.namespace, str(ref.get("name") or "")
        )
        checks.append(Check(owner, BLOCK_DENIED, alternative=FINALIZE_ANYTHING))
    return checks


def admission_denial(request: Attributes, check: Check) -> str:
    """The apiserver's message for a write admission refuses."""
    what = f"{request.resource}.{request.group}" if request.group else request.resource
    return f'{what} "{request.name}" is forbidden: {check.refusal}'
