"""Access to one claimed pool lab, for its claimant only.

GKE authorizes in two steps: IAM for the project (fetching a cluster's credentials needs
container.clusters.get, which `roles/container.clusterViewer` grants and nothing more), then Kubernetes RBAC
inside the cluster, which takes Google accounts as User subjects
(https://cloud.google.com/kubernetes-engine/docs/how-to/role-based-access-control). So a claimant gets the
project role and, inside the claimed lab's cluster only, a ClusterRoleBinding of `cluster-admin`: every
other cluster of the project answers them 403.

The project role is shared by every lab of the claimant in that project: it is removed only when they hold
no other claimed lab there. Both writes are idempotent (an etag read-modify-write for the project policy,
create-or-existing for the binding, which carries the lab's ownership marker and is never adopted).

The binding lives in a cluster whose claimant is cluster-admin: its subjects are the claimant's to edit.
What it says is therefore only believed when it matches the cluster's `gke-lab-claimed-by` label
(`pools.is_claimant`), which the claimant cannot change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gke_lab import calls, kube
from gke_lab.errors import LabError
from gke_lab.ownership import Marker, owner_reason, require_owner
from gke_lab.pools import LABEL_CLAIMED_BY, LABEL_POOL, LABEL_POOL_STATE, PoolLab, PoolState, is_claimant
from gke_lab.resources.iam_policy import ensure_absent, ensure_members

if TYPE_CHECKING:
    from gke_lab.clients import Clients

PROJECT_ROLE = "roles/container.clusterViewer"
BINDING = "gke-lab-claimant"
CLUSTER_ROLE = "cluster-admin"
RBAC_GROUP = "rbac.authorization.k8s.io"
# A Google account e-mail (what `gcloud auth list` shows); at most 254 characters (RFC 5321).
IDENTITY = re.compile(
    r"[a-z0-9._%+-]{1,64}@[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+"
)
# Subjects of a binding read back are the claimant's to write: only this many are looked at.
MAX_SUBJECTS = 50
# The cluster states in which its Kubernetes API answers.
SERVING = ("RUNNING", "RECONCILING", "DEGRADED")


def checked_identity(identity: object, *, field: str = "identity") -> str:
    """A claimant's identity: a Google account e-mail, lowercased; a LabError naming `field` otherwise."""
    # ASCII first: str.lower() maps some non-ASCII letters (the Kelvin sign) onto ASCII ones.
    if (
        not isinstance(identity, str)
        or not identity.isascii()
        or len(identity) > 254
        or not IDENTITY.fullmatch(identity.lower())
    ):
        shown = repr(identity)[:80]
        raise LabError(f"{field}: {shown} is not a Google account e-mail (accepted: e.g. alice@example.com)")
    return identity.lower()


def member(identity: str) -> str:
    return f"user:{identity}"


def _binding_body(lab: PoolLab, identity: str) -> Any:
    from kubernetes import client as k8s

    return k8s.V1ClusterRoleBinding(
        api_version=f"{RBAC_GROUP}/v1",
        kind="ClusterRoleBinding",
        metadata=k8s.V1ObjectMeta(name=BINDING, labels=Marker(lab.lab, lab.expires or 0).labels()),
        role_ref=k8s.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=CLUSTER_ROLE),
        subjects=[k8s.RbacV1Subject(api_group=RBAC_GROUP, kind="User", name=identity)],
    )


def _project_policy(clients: Clients, project: str) -> tuple[Any, Any]:
    resource = f"projects/{project}"

    def get() -> Any:
        return clients.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        )

    def set_(policy: Any) -> Any:
        return clients.projects.set_iam_policy(
            request={"resource": resource, "policy": policy, "update_mask": {"paths": ["bindings", "etag"]}}
        )

    return get, set_


def _rbac(clients: Clients, lab: PoolLab) -> tuple[Any, str] | None:
    """The RBAC API of the lab's cluster, and its name; None when the cluster does not serve one."""
    from kubernetes import client as k8s

    name = lab.cluster_name
    if name is None:
        return None
    cluster = calls.get_or_none(lambda: clients.container.get_cluster(name=name), resource=name)
    if cluster is None or cluster.status.name not in SERVING or not cluster.endpoint:
        return None
    return k8s.RbacAuthorizationV1Api(kube.api_client_for_cluster(cluster, clients.access_token)), name


def grant(clients: Clients, lab: PoolLab, identity: str) -> tuple[str, ...]:
    """`identity` gets the project role to fetch credentials and cluster-admin inside this lab only."""
    identity = checked_identity(identity)
    get, set_ = _project_policy(clients, lab.project)
    resource = f"projects/{lab.project}"
    ensure_members(get, set_, [(PROJECT_ROLE, member(identity))], resource)
    done = [f"{resource}: {PROJECT_ROLE} for {member(identity)}"]
    api = _rbac(clients, lab)
    if api is None:
        raise LabError(
            f"lab {lab.lab}: its cluster serves no Kubernetes API, so access inside it cannot be granted",
            resource=lab.cluster_name,
        )
    rbac, cluster = api
    where = f"{cluster}: ClusterRoleBinding {BINDING}"
    body = _binding_body(lab, identity)
    created = calls.create_or_existing(
        lambda: rbac.create_cluster_role_binding(body=body), resource=where, retryable=kube.is_transient
    )
    if created is None:
        # It exists (an earlier attempt of this grant, or someone else's): never adopted, and made to say
        # exactly this claimant when it is the lab's own.
        live = calls.get_or_none(
            lambda: rbac.read_cluster_role_binding(BINDING), resource=where, retryable=kube.is_transient
        )
        if live is None:
            raise LabError(f"{where} was neither created nor found; retry the claim", resource=where)
        labels = live.metadata.labels if live.metadata is not None else None
        require_owner(where, Marker.from_labels(labels), lab.lab, "Delete that binding from the cluster.")
        if _subjects(live) != [identity] or live.role_ref.name != CLUSTER_ROLE:
            kube.call(
                lambda: rbac.replace_cluster_role_binding(BINDING, body), resource=where, action="replace"
            )
    done.append(f"{where}: {CLUSTER_ROLE} for User {identity}")
    return tuple(done)


def _subjects(binding: Any) -> list[str]:
    """The User subjects of a binding read back (at most MAX_SUBJECTS of them)."""
    out = []
    for subject in (binding.subjects or [])[:MAX_SUBJECTS]:
        name = getattr(subject, "name", None)
        if getattr(subject, "kind", None) == "User" and isinstance(name, str):
            out.append(name)
    return out


def claimant_of(clients: Clients, lab: PoolLab) -> str | None:
    """The claimant's identity, from the in-cluster binding's subjects or the project role's members; only
    an identity the cluster's claimant label names (whatever else those lists hold) is answered."""
    candidates: list[str] = []
    try:
        api = _rbac(clients, lab)
        if api is not None:
            rbac, cluster = api
            live = calls.get_or_none(
                lambda: rbac.read_cluster_role_binding(BINDING),
                resource=f"{cluster}: ClusterRoleBinding {BINDING}",
                retryable=kube.is_transient,
            )
            if live is not None:
                candidates += _subjects(live)
    except kube.ControlPlaneUnreachable:
        pass  # the project policy still names them
    get, _ = _project_policy(clients, lab.project)
    policy = calls.get_or_none(get, resource=f"projects/{lab.project}")
    if policy is not None:
        for binding in policy.bindings:
            if binding.role == PROJECT_ROLE:
                candidates += [m.removeprefix("user:") for m in binding.members if m.startswith("user:")]
    for candidate in candidates:
        if isinstance(candidate, str) and is_claimant(lab.claimed_by, candidate):
            try:
                return checked_identity(candidate)
            except LabError:
                continue
    return None


def _holds_other_lab(clients: Clients, lab: PoolLab, identity: str) -> bool:
    """Whether `identity` holds another claimed pool lab in the lab's project."""
    from gke_lab import inventory

    for cluster in inventory.clusters(clients, lab.project):
        labels = cluster.labels
        marker = Marker.from_labels(labels)
        if marker is None or marker.lab == lab.lab or LABEL_POOL not in labels:
            continue
        if labels.get(LABEL_POOL_STATE) == PoolState.CLAIMED.value and is_claimant(
            labels.get(LABEL_CLAIMED_BY), identity
        ):
            return True
    return False


def _remove_binding(clients: Clients, lab: PoolLab) -> str | None:
    """Delete the lab's own claimant binding (whoever its subjects now name); None when there is none, or
    the cluster serves no API, or the binding is not the lab's (it goes with the cluster)."""
    api = _rbac(clients, lab)
    if api is None:
        return None
    rbac, cluster = api
    where = f"{cluster}: ClusterRoleBinding {BINDING}"
    live = calls.get_or_none(
        lambda: rbac.read_cluster_role_binding(BINDING), resource=where, retryable=kube.is_transient
    )
    labels = live.metadata.labels if live is not None and live.metadata is not None else None
    if live is None or owner_reason(Marker.from_labels(labels), lab.lab) is not None:
        return None
    gone = calls.delete_or_gone(
        lambda: rbac.delete_cluster_role_binding(BINDING), resource=where, retryable=kube.is_transient
    )
    return None if gone is None else f"{where}: removed"


def revoke(clients: Clients, lab: PoolLab, identity: str) -> tuple[str, ...]:
    """Remove the in-cluster binding, then the project role unless `identity` holds another claimed lab in
    that project. Only the lab's claimant can be revoked; what is already gone is success."""
    identity = checked_identity(identity)
    if not is_claimant(lab.claimed_by, identity):
        raise LabError(
            f"identity: {identity} is not the claimant of lab {lab.lab}", resource=lab.cluster_name
        )
    done: list[str] = []
    try:
        removed_binding = _remove_binding(clients, lab)
    except kube.ControlPlaneUnreachable:
        removed_binding = None  # the binding goes with the cluster; the project role must go regardless
    if removed_binding is not None:
        done.append(removed_binding)
    if not _holds_other_lab(clients, lab, identity):
        get, set_ = _project_policy(clients, lab.project)
        resource = f"projects/{lab.project}"
        removed = ensure_absent(get, set_, [(PROJECT_ROLE, member(identity))], resource)
        done += [f"{resource}: {role} for {who} removed" for role, who in removed]
    return tuple(done)
