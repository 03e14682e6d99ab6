"""Which predefined IAM roles grant which permissions, for the permissions the emulator checks for a named
user (the operator's own calls keep the older model: it holds every permission the admin API did not take
away, see resourcemanager.py).

Only the roles a lab's people hold are listed; a role not listed grants nothing here, so the emulator is never
more lenient than Google. Sources, as Google lists them:
https://cloud.google.com/iam/docs/roles-permissions/container (Kubernetes Engine roles: container.admin holds
container.*; container.clusterAdmin the cluster methods; container.developer the Kubernetes API objects but
not the cluster methods nor RBAC writes; container.viewer read-only, without secrets; container.clusterViewer
only container.clusters.get and .list), https://cloud.google.com/iam/docs/understanding-roles#basic (owner,
editor, viewer; editor cannot manage IAM policies) and
https://cloud.google.com/resource-manager/docs/access-control-proj (resourcemanager.projects.*)."""

from __future__ import annotations

from fnmatch import fnmatchcase

_READ = ("container.*.get", "container.*.list", "container.*.getStatus", "container.*.getScale")
_CLUSTER_READ = ("container.clusters.get", "container.clusters.list", "container.operations.*")
_PROJECT_READ = ("resourcemanager.projects.get", "resourcemanager.projects.list")
_RBAC_WRITES = tuple(
    f"container.{kind}.{verb}"
    for kind in ("roles", "clusterRoles", "roleBindings", "clusterRoleBindings")
    for verb in ("create", "update", "delete", "bind", "escalate")
)
_SECRETS = ("container.secrets.get", "container.secrets.list")
_CLUSTER_WRITES = ("container.clusters.create", "container.clusters.update", "container.clusters.delete")


# role -> (granted patterns, excepted patterns)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "roles/owner": (("container.*", "resourcemanager.projects.*"), ()),
    # where the page leaves a doubt (RBAC writes by editors), the stricter reading
    "roles/editor": (
        ("container.*", *_PROJECT_READ),
        ("container.hostServiceAgent.use", *_RBAC_WRITES),
    ),
    "roles/viewer": (
        (*_READ, *_PROJECT_READ, "resourcemanager.projects.getIamPolicy"),
        _SECRETS,
    ),
    "roles/container.admin": (("container.*", *_PROJECT_READ), ()),
    "roles/container.clusterAdmin": (
        (*_CLUSTER_READ, *_CLUSTER_WRITES, "container.clusters.getCredentials", *_PROJECT_READ),
        (),
    ),
    "roles/container.developer": (
        ("container.*", *_PROJECT_READ),
        (*_CLUSTER_WRITES, *_RBAC_WRITES, "container.hostServiceAgent.use"),
    ),
    "roles/container.viewer": ((*_READ, *_PROJECT_READ), _SECRETS),
    "roles/container.clusterViewer": (("container.clusters.get", "container.clusters.list"), ()),
}


def role_grants(role: str, permission: str) -> bool:
    granted, excepted = ROLES.get(role, ((), ()))
    return any(fnmatchcase(permission, p) for p in granted) and not any(
        fnmatchcase(permission, p) for p in excepted
    )
