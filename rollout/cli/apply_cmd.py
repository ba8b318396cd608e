"""`rollout apply -f PATH…`: create or update Services and RolloutPolicies.

Everything is validated first; one problem anywhere and nothing is written (exit 2,
one `PATH:LINE: FIELD.PATH: message` line per problem). Warnings (a literal
credential in a policy) are printed on stderr as `PATH:LINE: FIELD.PATH: warning: …`
and the resources are applied all the same. Policies are written before services, so
a service can name a policy from the same files; a Service naming a policy the store
does not hold is applied all the same, its line saying so (`service/web created
(warning: policy "nope" not found; the release will wait for it)`): its first
revision gets traffic, the next change waits for the policy (the Service's
`PolicyNotFound`). An update replaces the spec and the labels and annotations,
conditional on the resourceVersion just read (a concurrent change makes it read and
try again); status is the controller's and is never written here. Revisions, Routes
and Releases belong to the controller: applying one is refused. An object stored that
no longer decodes (written by another version, edited by hand) is replaced all the
same: applying the fixed file is how it is fixed.

On local state (not `--backend kubernetes`), a Service is given the absolute path of
its file's directory in the `local.rollout.dev/source-dir` annotation (unless the
file sets it), which its new revisions copy: the local platform resolves a relative
command path or `workingDir` there, not in the controller's working directory.
Applying the same file from elsewhere changes no template, so it makes no revision.
"""

from __future__ import annotations

import os

import click

from rollout.api import kinds, loader, names, service
from rollout.cli import common
from rollout.store import errors

__all__ = ["apply_command"]

APPLICABLE = ("RolloutPolicy", "Service")
_ATTEMPTS = 5


@click.command("apply")
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=str),
    help="A YAML file or a directory of them. Repeatable.",
)
@common.state_options()
def apply_command(paths: tuple[str, ...], opts: common.Options) -> None:
    """Create or update resources from YAML files (Services and RolloutPolicies).

    \b
    Examples:
      rollout apply -f policies/canary-standard.yaml -f examples/local/hello.yaml
    """
    result = loader.load_paths(list(paths))
    for warning in result.warnings:
        click.echo(str(warning), err=True)
    problems = [str(d) for d in result.diagnostics]
    for doc in result.documents:
        if doc.resource.kind not in APPLICABLE:
            problems.append(
                f"{doc.path}:{doc.line}: kind: {doc.resource.kind} is managed by the"
                " controller; apply a Service (or a RolloutPolicy) instead"
            )
    if problems:
        for line in problems:
            click.echo(line, err=True)
        common.fail(f"{len(problems)} problem(s) found; nothing applied", code=2)
    docs = sorted(result.documents, key=lambda d: APPLICABLE.index(d.resource.kind))
    for doc in docs:
        obj = doc.resource
        change: dict[str, object] = {}
        if obj.metadata.namespace is None:
            change["namespace"] = opts.namespace
        if isinstance(obj, service.Service) and opts.backend != "kubernetes":
            change["annotations"] = _with_source_dir(obj.metadata.annotations, doc.path)
        if change:
            obj = obj.model_copy(update={"metadata": obj.metadata.model_copy(update=change)})
        label = f"{obj.kind.lower()}/{obj.metadata.name}"
        click.echo(f"{label} {_apply_one(opts, obj)}{_policy_note(opts, obj)}")


def _with_source_dir(annotations: dict[str, str], path: str) -> dict[str, str]:
    """The annotations with the file's directory (absolute) as the source dir, unless
    they name one."""
    if names.SOURCE_DIR_ANNOTATION in annotations:
        return annotations
    folder = os.path.dirname(os.path.abspath(path))
    return {**annotations, names.SOURCE_DIR_ANNOTATION: folder}


def _policy_note(opts: common.Options, obj: kinds.Resource) -> str:
    """` (warning: …)` when `obj` is a Service naming a policy the store does not hold
    (policies are written first: one from the same files is found); else ""."""
    if not isinstance(obj, service.Service) or obj.spec.policy is None:
        return ""
    name, namespace = obj.spec.policy, obj.metadata.namespace or opts.namespace
    try:
        opts.store.get("RolloutPolicy", namespace, name)
    except errors.NotFound:
        return f' (warning: policy "{name}" not found; the release will wait for it)'
    except errors.StoreError:  # stored but invalid, or unreadable: not this warning's say
        return ""
    return ""


def _apply_one(opts: common.Options, obj: kinds.Resource) -> str:
    store = opts.store
    kind, name = obj.kind, obj.metadata.name
    namespace = obj.metadata.namespace or opts.namespace
    for _ in range(_ATTEMPTS):
        current: kinds.Resource | None = None
        try:
            current = store.get(kind, namespace, name)
            stored = current.metadata
        except errors.NotFound:
            try:
                store.create(obj)
            except errors.AlreadyExists:
                continue
            return "created"
        except errors.Undecodable as exc:  # stored invalid: this replaces it
            stored = exc.object.metadata
        meta = stored.model_copy(
            update={
                "labels": obj.metadata.labels,
                "annotations": obj.metadata.annotations,
            }
        )
        new = obj.model_copy(update={"metadata": meta})
        if current is not None and new.spec == current.spec and meta == current.metadata:
            return "unchanged"
        try:
            store.update(new)
        except errors.Conflict:
            continue
        return "configured"
    raise common.fail(f"{kind} {namespace}/{name} kept changing while being applied; try again")
