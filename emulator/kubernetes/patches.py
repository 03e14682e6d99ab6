"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch."""

from __future__ import annotations

import copy

from emulator.kubernetes.errors import BadRequest


def json_merge_patch(target: object, patch: object) -> object:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# Strategic merge: lists of objects merge by their patch merge key (the subset gke-lab's objects use).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
}


def strategic_merge_patch(target: object, patch: object, fname: str = "") -> object:
    if isinstance(patch, list) and isinstance(target, list) and fname in _MERGE_KEYS:
        key = _MERGE_KEYS[fname]
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                return copy.deepcopy(patch)
            for i, existing in enumerate(result):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    if item.get("$patch") == "delete":
                        result.pop(i)
                    else:
                        result[i] = strategic_merge_patch(existing, item)
                    break
            else:
                if item.get("$patch") != "delete":
                    result.append(copy.deepcopy(item))
        return result
    if isinstance(patch, list) and fname == "ports" and isinstance(target, list):
        # container ports merge by containerPort, service ports by port
        key = "containerPort" if all("containerPort" in p for p in patch if isinstance(p, dict)) else "port"
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict):
                return copy.deepcopy(patch)
            for i, existing in enumerate(result):
                if isinstance(existing, dict) and existing.get(key) == item.get(key):
                    result[i] = strategic_merge_patch(existing, item)
                    break
            else:
                result.append(copy.deepcopy(item))
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc: object, ops: object) -> object:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise BadRequest("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def parent(d, parts):
        cur = d
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(d, parts):
        cur = d
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def remove(d, parts):
        par = parent(d, parts)
        if isinstance(par, list):
            return par.pop(int(parts[-1]))
        return par.pop(parts[-1])

    def add(d, parts, value):
        if not parts:
            return value
        par = parent(d, parts)
        if isinstance(par, list):
            idx = len(par) if parts[-1] == "-" else int(parts[-1])
            par.insert(idx, value)
        else:
            par[parts[-1]] = value
        return d

    for op in ops:
        try:
            kind = op["op"]
            parts = _pointer(op["path"])
            if kind == "add":
                doc = add(doc, parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(doc, parts)
            elif kind == "replace":
                get(doc, parts)  # must exist
                if not parts:
                    doc = copy.deepcopy(op["value"])
                else:
                    par = parent(doc, parts)
                    key = int(parts[-1]) if isinstance(par, list) else parts[-1]
                    par[key] = copy.deepcopy(op["value"])
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = remove(doc, src) if kind == "move" else copy.deepcopy(get(doc, src))
                doc = add(doc, parts, value)
            elif kind == "test":
                if get(doc, parts) != op["value"]:
                    raise BadRequest(f"testing value {op['path']} failed")
            else:
                raise BadRequest(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise BadRequest(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from None
    return doc
