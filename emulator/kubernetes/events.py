"""Events recorded by the kubelet and the controllers."""

from __future__ import annotations


class _Events:
    """Writes core/v1 Events."""

    def _event(
        self,
        obj: dict,
        etype: str,
        reason: str,
        message: str,
        mono: float,
        kind: str = "Pod",
        api_version: str = "v1",
        source: str = "kubelet",
    ) -> tuple[str, str]:
        meta = obj["metadata"]
        ns = meta.get("namespace", "default")
        ts = self._ts(mono)
        name = f"{meta['name']}.{self._rng.getrandbits(64):016x}"
        involved = {
            "kind": kind,
            "namespace": ns,
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": api_version,
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if kind == "Pod" and source == "kubelet":
            first = (obj["spec"].get("containers") or [{}])[0].get("name", "")
            involved["fieldPath"] = f"spec.containers{{{first}}}"
        src = {"component": source}
        if source == "kubelet":
            src["host"] = obj["spec"].get("nodeName", "")
        event = {
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": self._uid(),
                "resourceVersion": self._next_rv(),
                "creationTimestamp": ts,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": src,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": etype,
            "eventTime": None,
            "reportingComponent": source,
            "reportingInstance": src.get("host", ""),
        }
        self._store[("", "events")][(ns, name)] = event
        return (ns, name)
