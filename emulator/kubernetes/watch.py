"""Lists and watch streams."""

from __future__ import annotations

import copy
import json
import threading
import time

from emulator.kube_server import Response, json_response
from emulator.kubernetes.errors import BadRequest, bad_request
from emulator.kubernetes.objects import _Kind
from emulator.kubernetes.selectors import fields_match, labels_match, parse_label_selector


def _selected(obj: dict, reqs: list[tuple[str, str, list[str]]], query: dict) -> bool:
    """Whether an object passes a request's label requirements and field selector."""
    if not labels_match(obj["metadata"].get("labels") or {}, reqs):
        return False
    return not query.get("fieldSelector") or fields_match(obj, query["fieldSelector"])


class _Watches:
    """Lists with selectors, and watch streams that replay deletions from tombstones."""

    def _matching(self, kind: _Kind, ns: str | None, query: dict) -> dict[tuple[str, str], dict]:
        try:
            reqs = parse_label_selector(query.get("labelSelector", ""))
        except BadRequest as err:
            raise bad_request(err.message) from None
        out = {}
        for key, obj in sorted(self._store[(kind.group, kind.resource)].items()):
            if ns is not None and key[0] != ns:
                continue
            if _selected(obj, reqs, query):
                out[key] = copy.deepcopy(obj)
        return out

    def _list(self, kind: _Kind, ns: str | None, query: dict) -> Response:
        if query.get("watch") in ("true", "1"):
            return self._watch(kind, ns, query)
        items = list(self._matching(kind, ns, query).values())
        limit = int(query.get("limit") or 0)
        if limit > 0:
            items = items[:limit]
        return json_response(
            200,
            {
                "kind": kind.kind + "List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            },
        )

    def _watch(self, kind: _Kind, ns: str | None, query: dict) -> Response:
        """A watch stream: ADDED/MODIFIED/DELETED events, one JSON object per line."""
        self._matching(kind, ns, query)  # validate selectors before the 200 goes out
        timeout = float(query.get("timeoutSeconds") or 1800)
        since = query.get("resourceVersion") or ""
        if since and not since.isdigit():
            raise bad_request(f'invalid resource version "{since}"')
        stopping = self._server.stopping if self._server is not None else threading.Event()

        def event(etype: str, obj: dict) -> bytes:
            line = {"type": etype, "object": {"kind": kind.kind, "apiVersion": kind.api_version, **obj}}
            return json.dumps(line, separators=(",", ":")).encode() + b"\n"

        def rv_of(obj: dict) -> int:
            return int(obj["metadata"].get("resourceVersion") or 0)

        def stream():
            deadline = time.monotonic() + timeout
            with self._lock:
                seen = self._matching(kind, ns, query)
                gone = [] if since in ("", "0") else self._deleted_since(kind, ns, query, int(since))
            for obj in seen.values():
                if since in ("", "0"):
                    yield event("ADDED", obj)
                elif rv_of(obj) > int(since):
                    yield event("MODIFIED", obj)
            for obj in gone:
                yield event("DELETED", obj)
            while not stopping.is_set() and time.monotonic() < deadline:
                stopping.wait(0.05)
                egress = self._egress_now()
                with self._lock:
                    self._egress = egress
                    self._refresh(egress)
                    current = self._matching(kind, ns, query)
                for key, obj in current.items():
                    if key not in seen:
                        yield event("ADDED", obj)
                    elif rv_of(obj) != rv_of(seen[key]):
                        yield event("MODIFIED", obj)
                for key, obj in seen.items():
                    if key not in current:
                        yield event("DELETED", obj)
                seen = current

        return Response(200, b"", "application/json", stream=stream())

    def _deleted_since(self, kind: _Kind, ns: str | None, query: dict, since: int) -> list[dict]:
        reqs = parse_label_selector(query.get("labelSelector", ""))
        out = []
        for rv, res, key, obj in self._tombstones:
            if rv <= since or res != (kind.group, kind.resource) or (ns is not None and key[0] != ns):
                continue
            if key in self._store[res]:
                continue  # re-created since: the watch reports the live object
            if _selected(obj, reqs, query):
                out.append(copy.deepcopy(obj))
        return out
