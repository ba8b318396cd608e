"""Read handlers: get, list and watch of one resource type.

`get` and `list` answer the stored objects at the request's version, as JSON, as a
`meta.k8s.io` Table (`tables.py`) or as PartialObjectMetadata when the Accept
header asks; lists carry `kind: <Kind>List`, `apiVersion` and
`metadata.resourceVersion`, filtered by label and field selectors. `limit`/`continue`
and `resourceVersion` are ignored: a list is always complete and current.

`watch` picks where the stream starts — synthetic ADDED events for the current
objects when no resourceVersion (or "0") is given, else every event after the given
one — under the store's lock, and returns the event stream of `watching.py`.

Called by `api.py` after routing and fault injection. No writes.
"""

from __future__ import annotations

import copy
import datetime
import threading
from collections.abc import Callable
from typing import Any

from kubeemu import errors, exchange, faults, resources, routing, storage, tables, watching

__all__ = ["Reads"]


class Reads:
    """get, list and watch over one store."""

    def __init__(
        self,
        *,
        store: storage.Store,
        clock: Callable[[], datetime.datetime],
        injector: faults.FaultInjector,
        stop: threading.Event,
        bookmark_interval: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.injector = injector
        self.stop = stop
        self.bookmark_interval = bookmark_interval

    def render(self, req: exchange.Request, rt: resources.ResourceType, obj: dict[str, Any]) -> Any:
        accept = req.header("Accept")
        version = tables.negotiated(accept, "Table")
        if version is not None:
            return tables.table(
                rt,
                [obj],
                now=self.clock(),
                resource_version=obj["metadata"].get("resourceVersion", ""),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )
        version = tables.negotiated(accept, "PartialObjectMetadata")
        if version is not None:
            return tables.partial_metadata(obj, version)
        return obj

    def get(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        obj = self.store.get(rt.group_resource, exchange.namespace_of(rt, info), info.name)
        if obj is None:
            raise exchange.not_found(rt, info.name)
        return exchange.Response(200, self.render(req, rt, exchange.present(rt, obj)))

    def list(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        label, fields = exchange.label_and_fields(req, info)
        found, rv = self.store.list(rt.group_resource, info.namespace or None)
        items = [exchange.present(rt, o) for o in found if label.matches(o) and fields.matches(o)]
        accept = req.header("Accept")
        version = tables.negotiated(accept, "Table")
        if version is not None:
            body = tables.table(
                rt,
                items,
                now=self.clock(),
                resource_version=str(rv),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )
            return exchange.Response(200, body)
        version = tables.negotiated(accept, "PartialObjectMetadataList")
        if version is not None:
            return exchange.Response(
                200,
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": f"meta.k8s.io/{version}",
                    "metadata": {"resourceVersion": str(rv)},
                    "items": [tables.partial_metadata(o, version) for o in items],
                },
            )
        body = {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }
        return exchange.Response(200, body)

    def watch(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        label, fields = exchange.label_and_fields(req, info)
        namespace = info.namespace or None
        param = req.query.get("resourceVersion", "")
        timeout: float | None = None
        if req.query.get("timeoutSeconds"):
            try:
                timeout = float(int(req.query["timeoutSeconds"]))
            except ValueError as exc:
                raise errors.BadRequest("timeoutSeconds must be an integer") from exc
        initial: list[dict[str, Any]] = []
        send_initial = req.query.get("sendInitialEvents") in ("1", "true", "True")
        with self.store.locked():
            if param in ("", "0") or send_initial:
                found, start = self.store.list(rt.group_resource, namespace)
                initial = [o for o in found if label.matches(o) and fields.matches(o)]
            else:
                try:
                    start = int(param)
                except ValueError as exc:
                    raise errors.BadRequest(f"invalid resourceVersion {param!r}") from exc
        version = tables.negotiated(req.header("Accept"), "Table")

        def render(obj: dict[str, Any]) -> dict[str, Any]:
            shown = exchange.present(rt, copy.deepcopy(obj))
            if version is None:
                return shown
            return tables.table(
                rt,
                [shown],
                now=self.clock(),
                resource_version=shown["metadata"].get("resourceVersion", ""),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )

        events = watching.stream(
            store=self.store,
            rt=rt,
            namespace=namespace,
            label=label,
            field=fields,
            start_rv=start,
            initial=initial,
            render=render,
            timeout_s=timeout,
            bookmarks=req.query.get("allowWatchBookmarks") in ("1", "true", "True"),
            initial_events_end=send_initial,
            bookmark_interval=self.bookmark_interval,
            drop_after=self.injector.faults.drop_watch_after_s
            if self.injector.applies_to(req.header("User-Agent"))
            else None,
            stop=self.stop,
        )
        return exchange.WatchStream(events)
