"""Authorization of a request to a cluster's API, as GKE does it: IAM, then Kubernetes RBAC.

GKE authenticates a Google account only when it holds `container.clusters.get` in the cluster's project (else
401); it then allows a request that either the account's IAM roles (`container.<resource>.<verb>`) or the
cluster's RBAC allow, and refuses the rest with 403 Forbidden in Kubernetes' Status shape, naming the IAM
permission that would have allowed it
(https://cloud.google.com/kubernetes-engine/docs/how-to/role-based-access-control#iam-interaction; GKE's
message as kubectl shows it, e.g. `namespaces "team1" is forbidden: User "example@gmail.com" cannot patch
resource "namespaces" in API group "" in the namespace "team1": requires one of
["container.namespaces.update"] permission(s).`).
The request attributes (verb, API group, resource, subresource, namespace, name) are Kubernetes' own
(https://kubernetes.io/docs/reference/access-authn-authz/authorization/#determine-the-request-verb).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.kube_server import Response, status_error
from emulator.kubernetes.objects import GROUPS, KINDS

API_GROUPS = {"api": ""} | {f"apis/{g}": g for g in GROUPS}
# every authenticated user is in this group (https://kubernetes.io/docs/reference/access-authn-authz/rbac/)
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Access:
    """Who a request comes from and what the cluster's project IAM policy grants it."""

    user: str
    groups: tuple[str, ...]
    # whether an IAM permission is granted in the cluster's project (asked outside the cluster's lock)
    iam: Callable[[str], bool]


@dataclass(frozen=True)
class Attributes:
    """A resource request's authorization attributes."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    group: str
    resource: str
    subresource: str
    namespace: str  # "" at the cluster scope
    name: str

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def iam_permission(self) -> str:
        """GKE's IAM permission for this request: container.<resource in camel case>.<verb>."""
        kind = KINDS.get((self.group, self.resource))
        plural = kind.kind[0].lower() + kind.kind[1:] + "s" if kind else self.resource
        if kind and kind.kind == "Endpoints":
            plural = "endpoints"
        verb = {"watch": "list", "patch": "update", "deletecollection": "delete"}.get(self.verb, self.verb)
        if self.subresource == "log":
            return f"container.{plural}.getLogs"
        if self.subresource == "proxy":
            return f"container.{plural}.proxy"
        if self.subresource in ("status", "scale"):
            suffix = self.subresource.capitalize()
            return f"container.{plural}.{'get' if verb in ('get', 'list') else 'update'}{suffix}"
        return f"container.{plural}.{verb}"


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def attributes(method: str, path: str, query: dict[str, str]) -> Attributes | None:
    """The attributes of a resource request; None for a non-resource path (discovery, /version)."""
    segs = path.strip("/").split("/")
    found = [
        (group, segs[len(prefix.split("/")) + 1 :])
        for prefix, group in API_GROUPS.items()
        if segs[: len(prefix.split("/")) + 1] == [*prefix.split("/"), "v1"]
    ]
    if not found:
        return None
    group, rest = found[0]
    if not rest or not rest[0]:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        # the namespace object itself is authorized in its own namespace
        return _attributes(method, query, group, "namespaces", "", rest[1], rest[1])
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return _attributes(method, query, group, resource, subresource, namespace, name)


def _attributes(
    method: str, query: dict[str, str], group: str, resource: str, sub: str, namespace: str, name: str
) -> Attributes:
    if method in ("GET", "HEAD"):
        if name:
            verb = "get"
        else:
            verb = "watch" if query.get("watch") in ("true", "1") else "list"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return Attributes(verb, group, resource, sub, namespace, name)


def forbidden(user: str, attrs: Attributes) -> Response:
    """Kubernetes' 403 for a request RBAC does not allow, with GKE's note of the IAM permission that would."""
    named = f'{attrs.full_resource} "{attrs.name}"' if attrs.name else attrs.full_resource
    if attrs.group:
        named = named.replace(attrs.full_resource, f"{attrs.full_resource}.{attrs.group}", 1)
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    message = (
        f'{named} is forbidden: User "{user}" cannot {attrs.verb} resource "{attrs.full_resource}" in API '
        f'group "{attrs.group}" {scope}: requires one of ["{attrs.iam_permission}"] permission(s).'
    )
    details = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    return status_error(403, "Forbidden", message, details)


def unauthorized() -> Response:
    return status_error(401, "Unauthorized", "Unauthorized")
