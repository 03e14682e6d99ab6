"""Tearing a lab down: in dependency order, only what carries the lab's marker, safe to rerun.

Each phase reads the live state when it starts, so a rerun after a crash (or a teardown of a lab that is
already gone) simply finds less to do. A resource that has the lab's name but no marker, or another lab's
marker, is reported and left alone. 404 on delete is success. `dry_run` lists and deletes nothing.

Order: a claimed pool lab's claimant access (gke_lab.lab_access) -> workload (LoadBalancer Services
first, so GKE removes their forwarding and firewall rules) ->
cluster (wait) -> leftover GKE/`k8s-fw-*` firewall rules of the lab's network -> router (Cloud NAT) ->
subnet -> network -> the node service account's project bindings -> the service account -> with
`destroy_keys`, destruction of the keys' live versions (key rings and keys themselves are reused).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from google.api_core import exceptions as gexc
from google.cloud import compute_v1
from google.iam.v1 import policy_pb2

from gke_lab import calls, echo, kube, ops, retry
from gke_lab import inventory as inv
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.identity import LabIdentity
from gke_lab.ownership import REASON_OURS, owner_reason
from gke_lab.spec import LabSpec

if TYPE_CHECKING:
    from google.cloud import compute_v1

DELETED = "deleted"
WOULD_DELETE = "would delete"
ALREADY_GONE = "already gone"
KEPT = "kept"
FAILED = "failed"
SCHEDULED = "destruction scheduled"
WOULD_SCHEDULE = "would schedule destruction"
BLOCKED = "blocked"  # a cluster this run does not delete uses the lab's resources: nothing is deleted


@dataclass(frozen=True)
class LabTarget:
    """Which lab to tear down: its identity, and (when known) the spec that names its resources."""

    identity: LabIdentity
    spec: LabSpec | None = None

    @classmethod
    def from_spec(cls, spec: LabSpec) -> LabTarget:
        return cls(LabIdentity.from_spec(spec), spec)

    @property
    def project_id(self) -> str:
        return self.identity.project_id

    @property
    def lab(self) -> str:
        return self.identity.lab

    @property
    def all_regions(self) -> tuple[str, ...]:
        extra = (self.spec.region, self.spec.kms_location) if self.spec else ()
        return tuple(sorted(set(self.identity.regions) | set(extra)))


@dataclass
class Row:
    phase: str
    kind: str
    name: str
    action: str
    reason: str = ""


@dataclass
class Report:
    project_id: str
    lab: str
    dry_run: bool
    rows: list[Row] = field(default_factory=list)

    def add(self, rows: list[Row]) -> None:
        self.rows += rows

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.action in (FAILED, BLOCKED)]

    def problem(self) -> str | None:
        """Why the teardown did not finish (None when it did), for the run's failure message."""
        blocked = [r.reason for r in self.rows if r.action == BLOCKED]
        if blocked:
            return f"teardown of lab {self.lab} stopped before deleting anything: " + "; ".join(blocked)
        if self.failed:
            names = ", ".join(r.name for r in self.failed)
            return f"teardown of lab {self.lab} left resources behind: {names}; rerun to finish"
        return None

    @property
    def removed(self) -> list[Row]:
        """Rows that deleted, would delete (dry run) or scheduled the destruction of something."""
        return [r for r in self.rows if r.action in (DELETED, WOULD_DELETE, SCHEDULED)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the teardown flow returns (REST API, chat, the CLI)."""
        return {
            "project_id": self.project_id,
            "lab": self.lab,
            "dry_run": self.dry_run,
            "rows": [asdict(r) for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(data["project_id"], data["lab"], data["dry_run"], [Row(**r) for r in data["rows"]])

    def markdown(self) -> str:
        mode = " (dry run: nothing was deleted)" if self.dry_run else ""
        lines = [
            f"# Teardown of lab `{self.lab}` in `{self.project_id}`{mode}",
            "",
            "| step | kind | resource | outcome | why |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.phase} | {r.kind} | `{r.name}` | {r.action} | {reason} |")
        if not self.rows:
            lines.append("| - | - | - | nothing to do | no resource of this lab was found |")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ helpers


def _kept(phase: str, r: inv.Resource, lab: str) -> Row:
    return Row(phase, r.kind, r.ref, KEPT, owner_reason(r.marker, lab) or "")


def _outcome(answer: object) -> str:
    """The row action for the answer of `calls.delete_or_gone` (None: it was already gone)."""
    return ALREADY_GONE if answer is None else DELETED


def _select(
    phase: str, found: list[inv.Resource], lab: str, named: set[str] | None = None
) -> tuple[list[inv.Resource], list[Row]]:
    """Split into resources to delete (ours) and rows for same-named ones that are kept."""
    named = named or set()
    ours, rows = [], []
    for r in found:
        if r.owned_by(lab):
            ours.append(r)
        elif r.name in named:
            rows.append(_kept(phase, r, lab))
    return ours, rows


def _guard(phase: str, r: inv.Resource, fn: Callable[[], Row]) -> Row:
    try:
        return fn()
    except LabError as exc:  # a permanent failure: report it, keep going with independent resources
        return Row(phase, r.kind, r.ref, FAILED, str(exc))


# Clusters are always looked for in every location of the project: a spec naming the wrong region must
# not hide a running cluster from the teardown of the network, NAT and node account it uses.
ALL_LOCATIONS = ("-",)


def _key_of(name: str) -> str:
    """The CryptoKey of a key or key-version resource name."""
    return name.split("/cryptoKeyVersions/", 1)[0]


def _node_configs(cluster: Any) -> list[Any]:
    return [cluster.node_config, *(pool.config for pool in cluster.node_pools)]


def keys_used_by(cluster: Any) -> set[str]:
    """The CryptoKeys a cluster encrypts with: Secrets (application-layer) and node boot disks."""
    keys = {cluster.database_encryption.key_name} | {c.boot_disk_kms_key for c in _node_configs(cluster)}
    return {_key_of(k) for k in keys if k}


def _uses(
    cluster: Any, networks: set[str], subnets: set[tuple[str, str]], accounts: set[str], keys: set[str]
) -> list[str]:
    """What of the lab's resources a cluster uses, in words."""
    uses = []
    if inv.short(cluster.network) in networks:
        uses.append(f"network {inv.short(cluster.network)}")
    if (inv.region_of(cluster.location), inv.short(cluster.subnetwork)) in subnets:
        uses.append(f"subnet {inv.short(cluster.subnetwork)}")
    uses += [
        f"node service account {a}"
        for a in sorted({c.service_account for c in _node_configs(cluster)} & accounts)
    ]
    uses += [f"key {k}" for k in sorted(keys_used_by(cluster) & keys)]
    return uses


# ------------------------------------------------------------------------------------------------ phases


def check_not_in_use(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    """Stop before deleting anything when a cluster this run does not delete (another lab's, unmarked,
    or the lab's own with edited labels) uses the lab's network, subnet, node service account or keys."""
    others = [
        c for c in inv.clusters(clients, target.project_id, ALL_LOCATIONS) if not c.owned_by(target.lab)
    ]
    if not others:
        return []
    nets, _ = owned_networks(clients, target)
    regions = _regions(clients, target, nets)
    subnets = {
        (s.location, s.name)
        for s in inv.subnetworks(clients, target.project_id, regions)
        if s.owned_by(target.lab)
    }
    accounts = {a.name for a in owned_service_accounts(clients, target)[0]}
    keys = {k.name for k in inv.crypto_keys(clients, target.project_id, regions) if k.owned_by(target.lab)}
    rows = []
    for c in others:
        uses = _uses(c.raw, {n.name for n in nets}, subnets, accounts, keys)
        if uses:
            why = owner_reason(c.marker, target.lab)
            rows.append(
                Row(
                    "in_use",
                    "cluster",
                    c.ref,
                    BLOCKED,
                    f"cluster {c.ref} ({why}) uses this lab's {', '.join(uses)}: nothing was deleted; "
                    "delete that cluster or give it its own resources, then rerun",
                )
            )
    return rows


def owned_clusters(clients: Clients, target: LabTarget) -> tuple[list[inv.Resource], list[Row]]:
    found = inv.clusters(clients, target.project_id, ALL_LOCATIONS)
    named = {target.spec.cluster.name} if target.spec else set()
    return _select("cluster", found, target.lab, named)


def revoke_access(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    """A claimed pool lab's claimant loses access before its cluster goes: the in-cluster binding and the
    project role (gke_lab.lab_access.revoke). The claimant is whoever the cluster's claimant label names;
    a name found only in the cluster (the claimant's to edit) is never believed on its own."""
    from gke_lab import lab_access, pools

    rows: list[Row] = []
    clusters, _ = owned_clusters(clients, target)
    for c in clusters:
        pool = c.labels.get(pools.LABEL_POOL)
        if pool is None or pools.LABEL_CLAIMED_BY not in c.labels:
            continue  # no pool lab, or never claimed: nobody was granted anything
        lab = pools.read_lab(target.project_id, c, pool)
        if not isinstance(lab, pools.PoolLab):
            rows.append(
                Row("access", "cluster", c.ref, KEPT, f"not a valid pool lab ({lab}): no claimant known")
            )
            continue
        try:
            identity = lab_access.claimant_of(clients, lab)
            if identity is None:
                rows.append(Row("access", "claimant", c.ref, ALREADY_GONE, "no grant names the claimant"))
            elif dry_run:
                rows.append(
                    Row("access", "claimant", identity, WOULD_DELETE, f"claimant of pool lab {lab.lab}")
                )
            else:
                revoked = lab_access.revoke(clients, lab, identity)
                rows += [Row("access", "grant", what, DELETED, "claimant of a pool lab") for what in revoked]
                if not revoked:
                    rows.append(Row("access", "claimant", identity, ALREADY_GONE, "no grant left"))
        except LabError as exc:  # a grant left behind would outlive the cluster: stop here, rerun
            rows.append(Row("access", "cluster", c.ref, FAILED, f"access not revoked: {exc}"))
    return rows


def remove_workload(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    """Delete every LoadBalancer Service (GKE then removes its k8s-fw rule), then the echo Deployment."""
    rows: list[Row] = []
    clusters, _ = owned_clusters(clients, target)
    for c in clusters:
        if c.raw.status.name not in ("RUNNING", "RECONCILING", "DEGRADED") or not c.raw.endpoint:
            rows.append(
                Row("workload", "cluster", c.ref, KEPT, f"cluster is {c.raw.status.name}: no workload API")
            )
            continue
        try:
            rows += _remove_workload_of(clients, target, c, dry_run)
        except kube.ControlPlaneUnreachable as exc:
            rows.append(
                Row(
                    "workload",
                    "cluster",
                    c.ref,
                    KEPT,
                    f"workload not removed ({exc}); leftover load-balancer firewall rules are removed "
                    "after the cluster",
                )
            )
    return rows


def _remove_workload_of(clients: Clients, target: LabTarget, c: inv.Resource, dry_run: bool) -> list[Row]:
    from kubernetes import client as k8s

    api = kube.api_client_for_cluster(c.raw, clients.access_token)
    core = k8s.CoreV1Api(api)
    apps = k8s.AppsV1Api(api)
    where = f"cluster {c.ref}"
    services = kube.call(
        lambda: core.list_service_for_all_namespaces(), resource=where, action="list services of"
    )
    deployments = kube.call(
        lambda: apps.list_deployment_for_all_namespaces(label_selector=_OWNED_SELECTOR),
        resource=where,
        action="list deployments of",
    )
    todo: list[tuple[str, str, str, str, Callable[[], object]]] = []

    # LoadBalancer Services first: GKE removes their forwarding and k8s-fw rules while the cluster lives.
    def service_type(svc: k8s.V1Service) -> str | None:
        return svc.spec.type if svc.spec is not None else None

    for svc in sorted(services.items, key=lambda s: service_type(s) != "LoadBalancer"):
        if svc.metadata is None or svc.metadata.namespace is None or svc.metadata.name is None:
            continue  # nothing to address a delete to (a server always names what it lists)
        ns, name, labels = svc.metadata.namespace, svc.metadata.name, svc.metadata.labels or {}
        if service_type(svc) == "LoadBalancer":
            why = "LoadBalancer Service (its load balancer and firewall rule go with it)"
        elif labels.get(_OWNED_KEY) == _OWNED_VALUE:
            why = "echo workload"
        else:
            continue
        todo.append(("service", ns, name, why, partial(core.delete_namespaced_service, name, ns)))
    for d in deployments.items:
        if d.metadata is None or d.metadata.namespace is None or d.metadata.name is None:
            continue  # nothing to address a delete to (a server always names what it lists)
        ns, name = d.metadata.namespace, d.metadata.name
        todo.append(
            ("deployment", ns, name, "echo workload", partial(apps.delete_namespaced_deployment, name, ns))
        )
    rows: list[Row] = []
    for kind, ns, name, why, fn in todo:
        ref = f"{c.name}:{ns}/{name}"
        if dry_run:
            rows.append(Row("workload", kind, ref, WOULD_DELETE, why))
            continue
        answer = calls.delete_or_gone(fn, resource=ref, retryable=kube.is_transient)
        rows.append(Row("workload", kind, ref, _outcome(answer), why))
    return rows


_OWNED_KEY, _OWNED_VALUE = next(iter(echo.OWNER_LABEL.items()))
_OWNED_SELECTOR = f"{_OWNED_KEY}={_OWNED_VALUE}"


def delete_clusters(
    clients: Clients, target: LabTarget, *, dry_run: bool = False, timeout: float = 3600
) -> list[Row]:
    clusters, rows = owned_clusters(clients, target)
    for c in clusters:
        if dry_run:
            rows.append(Row("cluster", "cluster", c.ref, WOULD_DELETE, REASON_OURS))
            continue
        rows.append(_guard("cluster", c, partial(_delete_cluster, clients, target, c, timeout)))
    return rows


def _delete_cluster(clients: Clients, target: LabTarget, c: inv.Resource, timeout: float) -> Row:
    parent = f"projects/{target.project_id}/locations/{c.location}"
    name = f"{parent}/clusters/{c.name}"
    deadline = time.monotonic() + timeout
    delay = 0.2
    deleted = Row("cluster", "cluster", c.ref, DELETED, REASON_OURS)
    while True:
        try:
            op = calls.delete_or_gone(lambda: clients.container.delete_cluster(name=name), resource=name)
        except LabError as exc:
            if not isinstance(exc.__cause__, gexc.FailedPrecondition | gexc.BadRequest):
                raise
            # Another operation (a create cut short, or an earlier run's delete) may still be running.
            live = calls.get_or_none(lambda: clients.container.get_cluster(name=name), resource=name)
            if live is None:
                return deleted
            if live.status.name not in _BUSY or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(5.0, delay * 1.5)
            continue
        if op is not None:
            ops.wait_container(clients, op, location_path=parent, resource=name, timeout=timeout)
        return deleted


_BUSY = ("PROVISIONING", "STOPPING", "RECONCILING")


def owned_networks(clients: Clients, target: LabTarget) -> tuple[list[inv.Resource], list[Row]]:
    found = inv.networks(clients, target.project_id)
    named = {target.spec.network.name} if target.spec else set()
    return _select("network", found, target.lab, named)


def _regions(clients: Clients, target: LabTarget, nets: list[inv.Resource]) -> set[str]:
    regions = set(target.all_regions)
    for n in nets:
        regions |= {inv._region_of_url(u) for u in n.raw.subnetworks}
    regions.discard("")
    return regions


def delete_firewalls(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    """Our marked rules anywhere, and GKE's leftovers (k8s-*, gke-*) in the lab's own networks."""
    nets, _ = owned_networks(clients, target)
    our_nets = {n.name for n in nets}
    rows: list[Row] = []
    for f in inv.firewalls(clients, target.project_id):
        if f.owned_by(target.lab):
            reason = REASON_OURS
        elif f.network in our_nets and f.marker is None and f.name.startswith(GKE_RULE_PREFIXES):
            reason = f"created by GKE in this lab's network {f.network}"
        elif f.network in our_nets:
            rows.append(_kept("firewalls", f, target.lab))
            continue
        else:
            continue
        if dry_run:
            rows.append(Row("firewalls", "firewall", f.ref, WOULD_DELETE, reason))
            continue
        rows.append(_guard("firewalls", f, partial(_delete_firewall, clients, target, f, reason)))
    return rows


def _delete_firewall(clients: Clients, target: LabTarget, f: inv.Resource, reason: str) -> Row:
    project = target.project_id
    resource = f"projects/{project}/global/firewalls/{f.name}"
    op = calls.delete_or_gone(
        lambda: clients.firewalls.delete_unary(project=project, firewall=f.name), resource=resource
    )
    if op is not None:
        ops.wait_compute(clients, op, project=project, resource=resource)
    return Row("firewalls", "firewall", f.ref, _outcome(op), reason)


# GKE's own firewall rules: k8s-fw-* and k8s-*-hc (load balancers), k8s2-* (newer versions), gke-*.
GKE_RULE_PREFIXES = ("k8s-fw-", "k8s-", "k8s2-", "gke-")
# After a cluster delete GKE's peering and rules can hold the network for a while (400
# resourceInUseByAnotherResource): network and subnetwork deletes are retried this long.
IN_USE_WINDOW = 900.0


def in_use(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''}"
    return any(
        mark in text
        for mark in ("resourceInUseByAnotherResource", "RESOURCE_IN_USE", "already being used by")
    )


def until_free(
    action: Callable[[], Row],
    resource: str,
    *,
    window: float = IN_USE_WINDOW,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Row:
    """Run a delete; while the resource is still used by another, retry for `window` seconds, then fail
    naming what still uses it (Google's message says)."""
    start, delay = clock(), 2.0
    while True:
        try:
            return action()
        except Exception as exc:
            if not in_use(exc):
                raise
            if clock() - start >= window:
                raise LabError(
                    f"{resource} is still in use {window:.0f} s after the cluster is gone: {exc}",
                    resource=resource,
                ) from exc
            sleep(delay)
            delay = min(delay * 1.5, 15.0)


# The control-plane peering GKE creates for a private cluster: gke-<id>-peer.
GKE_PEERING = re.compile(r"^gke-[a-z0-9-]+-peer$")


def remove_leftover_peerings(clients: Clients, project: str, network: inv.Resource) -> list[str]:
    """GKE's control-plane peerings left on the lab's network once no cluster uses it: removed.

    Only when no cluster of the project is on the network any more: the peering can then only belong to
    a deleted cluster (normally GKE removes it itself a while after the delete).
    """
    if any(c.network == network.name for c in inv.clusters(clients, project)):
        return []
    raw = network.raw
    names = [p.name for p in getattr(raw, "peerings", []) if GKE_PEERING.match(p.name)]
    resource = f"projects/{project}/global/networks/{network.name}"
    for name in names:
        request = compute_v1.NetworksRemovePeeringRequest(name=name)
        op = calls.delete_or_gone(
            cast(
                "Callable[[], compute_v1.Operation]",
                lambda request=request: clients.networks.remove_peering_unary(
                    project=project, network=network.name, networks_remove_peering_request_resource=request
                ),
            ),
            resource=f"{resource}/peerings/{name}",
        )
        if op is not None:
            ops.wait_compute(clients, op, project=project, resource=resource)
    return names


def _remove_peerings_or_wait(clients: Clients, project: str, network: inv.Resource) -> list[str]:
    try:
        return remove_leftover_peerings(clients, project, network)
    except LabError:  # GKE may be removing it at the same moment: the bounded in-use retry waits it out
        return []


def _regional_phase(
    clients: Clients,
    target: LabTarget,
    *,
    phase: str,
    lister: Callable[[Clients, str, set[str]], list[inv.Resource]],
    named: set[str],
    deleter: Callable[[str, str, str], compute_v1.Operation],
    path: str,
    dry_run: bool,
) -> list[Row]:
    nets, _ = owned_networks(clients, target)
    found = lister(clients, target.project_id, _regions(clients, target, nets))
    ours, rows = _select(phase, found, target.lab, named)
    for r in ours:
        if dry_run:
            rows.append(Row(phase, r.kind, r.ref, WOULD_DELETE, REASON_OURS))
            continue

        def one(r: inv.Resource = r) -> Row:
            project = target.project_id
            resource = f"projects/{project}/regions/{r.location}/{path}/{r.name}"

            def attempt() -> Row:
                op = calls.delete_or_gone(lambda: deleter(project, r.location, r.name), resource=resource)
                if op is not None:
                    ops.wait_compute(clients, op, project=project, region=r.location, resource=resource)
                return Row(phase, r.kind, r.ref, _outcome(op), REASON_OURS)

            return until_free(attempt, resource)

        rows.append(_guard(phase, r, one))
    return rows


def delete_routers(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    return _regional_phase(
        clients,
        target,
        phase="router",
        lister=inv.routers,
        named={target.spec.network.router} if target.spec else set(),
        deleter=lambda p, region, name: clients.routers.delete_unary(project=p, region=region, router=name),
        path="routers",
        dry_run=dry_run,
    )


def delete_subnetworks(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    return _regional_phase(
        clients,
        target,
        phase="subnetwork",
        lister=inv.subnetworks,
        named={target.spec.network.subnet.name} if target.spec else set(),
        deleter=lambda p, region, name: clients.subnetworks.delete_unary(
            project=p, region=region, subnetwork=name
        ),
        path="subnetworks",
        dry_run=dry_run,
    )


def delete_networks(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    nets, rows = owned_networks(clients, target)
    project = target.project_id
    for n in nets:
        if dry_run:
            rows.append(Row("network", "network", n.ref, WOULD_DELETE, REASON_OURS))
            continue

        def one(n: inv.Resource = n) -> Row:
            resource = f"projects/{project}/global/networks/{n.name}"

            removed = _remove_peerings_or_wait(clients, project, n)

            def attempt() -> Row:
                op = calls.delete_or_gone(
                    lambda: clients.networks.delete_unary(project=project, network=n.name), resource=resource
                )
                if op is not None:
                    ops.wait_compute(clients, op, project=project, resource=resource)
                why = REASON_OURS + (f"; leftover peering {', '.join(removed)} removed" if removed else "")
                return Row("network", "network", n.ref, _outcome(op), why)

            return until_free(attempt, resource)

        rows.append(_guard("network", n, one))
    return rows


def owned_service_accounts(clients: Clients, target: LabTarget) -> tuple[list[inv.Resource], list[Row]]:
    found = inv.service_accounts(clients, target.project_id)
    named = {target.spec.node_sa_email} if target.spec else set()
    return _select("service_account", found, target.lab, named)


def remove_bindings(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    """Remove our service accounts from the project policy: etag read-modify-write, retried whole on 409.

    Only our member is removed; other members of the same roles stay. A binding for an account that is
    not ours (unmarked or another lab's) is never touched.
    """
    accounts, _ = owned_service_accounts(clients, target)
    members = {f"serviceAccount:{a.name}" for a in accounts}
    if not members:
        return []
    resource = f"projects/{target.project_id}"
    removed: list[tuple[str, str]] = []

    def read_modify_write() -> None:
        removed.clear()
        policy = clients.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        )
        for binding in policy.bindings:
            for member in sorted(members & set(binding.members)):
                removed.append((binding.role, member))
                if not dry_run:
                    binding.members.remove(member)
        if dry_run or not removed:
            return
        updated = policy_pb2.Policy()
        updated.CopyFrom(policy)  # keeps the etag, version and audit configs
        del updated.bindings[:]
        for binding in policy.bindings:
            if binding.members:  # a binding left without members is dropped, as gcloud does
                updated.bindings.add().CopyFrom(binding)
        policy = updated
        # The etag read above travels in `policy`: a concurrent writer makes this 409 and we start over.
        clients.projects.set_iam_policy(request={"resource": resource, "policy": policy})

    retry.call(
        read_modify_write, resource=resource, action="remove the node service account from the IAM policy of"
    )
    action = WOULD_DELETE if dry_run else DELETED
    return [
        Row("bindings", "iam_binding", f"{role} {member}", action, "member is this lab's service account")
        for role, member in removed
    ]


def delete_service_accounts(clients: Clients, target: LabTarget, *, dry_run: bool = False) -> list[Row]:
    accounts, rows = owned_service_accounts(clients, target)
    for a in accounts:
        if dry_run:
            rows.append(Row("service_account", "service_account", a.ref, WOULD_DELETE, REASON_OURS))
            continue

        def one(a: inv.Resource = a) -> Row:
            name = f"projects/{target.project_id}/serviceAccounts/{a.name}"

            def delete() -> str:
                # The IAM delete answers nothing: answer DELETED so "gone already" (None) stays distinct.
                clients.iam.delete_service_account(name=name)
                return DELETED

            answer = calls.delete_or_gone(delete, resource=name)
            return Row("service_account", "service_account", a.ref, _outcome(answer), REASON_OURS)

        rows.append(_guard("service_account", a, one))
    return rows


def destroy_keys(
    clients: Clients, target: LabTarget, *, destroy_keys: bool = False, dry_run: bool = False
) -> list[Row]:
    """Schedule destruction of live versions of our keys (when asked); key rings and keys stay for reuse."""
    named = (
        {target.spec.key_name("node"), target.spec.key_name("secrets")} if target.spec is not None else set()
    )
    found = inv.crypto_keys(clients, target.project_id, target.all_regions or _regions(clients, target, []))
    ours, rows = _select("keys", found, target.lab, named)
    in_use: dict[str, str] = {}
    if destroy_keys and ours:
        for c in inv.clusters(clients, target.project_id, ALL_LOCATIONS):
            if dry_run and c.owned_by(target.lab):
                continue  # the cluster phase would have deleted it by now
            for key in keys_used_by(c.raw):
                in_use.setdefault(key, c.ref)
    for k in ours:
        if k.name in in_use:
            # Destroying it would make that cluster's disks and Secrets unreadable.
            rows.append(Row("keys", "crypto_key", k.name, KEPT, f"used by cluster {in_use[k.name]}"))
            continue
        if not destroy_keys:
            rows.append(
                Row(
                    "keys", "crypto_key", k.name, KEPT, "key rings and keys are reused (destroy_keys not set)"
                )
            )
            continue
        for v in inv.key_versions_to_destroy(clients, k.name):
            if dry_run:
                rows.append(Row("keys", "key_version", v.name, WOULD_SCHEDULE, "destroy_keys"))
                continue

            def one(v: Any = v) -> Row:
                def run() -> None:
                    try:
                        clients.kms.destroy_crypto_key_version(name=v.name)
                    except gexc.FailedPrecondition:
                        pass  # already DESTROY_SCHEDULED or DESTROYED by an earlier run

                retry.call(run, resource=v.name, action="destroy")
                return Row("keys", "key_version", v.name, SCHEDULED, "destroy_keys")

            rows.append(_guard("keys", k, one))
    return rows


# ------------------------------------------------------------------------------------------------ the whole


@dataclass(frozen=True)
class Phase:
    """One step of a teardown: the flow runs one task per phase, the CLI and tests call `teardown`."""

    name: str
    run: Callable[..., list[Row]]  # (clients, target, *, dry_run[, destroy_keys]) -> rows
    # A failure here stops the later phases: a cluster that could not be deleted still uses the
    # network, NAT, node account and keys, so they are not pulled from under it; a rule, router or
    # subnetwork left behind keeps the network in use, and the network delete would only wait out its
    # in-use window for nothing (a rerun continues either way).
    blocks_the_rest: bool = False
    needs_destroy_keys: bool = False  # takes the opt-in `destroy_keys` flag

    def blocks(self, rows: list[Row]) -> bool:
        return self.blocks_the_rest and any(r.action in (FAILED, BLOCKED) for r in rows)


PHASES: tuple[Phase, ...] = (
    Phase("in_use", check_not_in_use, blocks_the_rest=True),
    # Once the cluster is gone nothing names the claimant any more: their grants would be left behind.
    Phase("access", revoke_access, blocks_the_rest=True),
    Phase("workload", remove_workload),
    Phase("cluster", delete_clusters, blocks_the_rest=True),
    Phase("firewalls", delete_firewalls, blocks_the_rest=True),
    Phase("router", delete_routers, blocks_the_rest=True),
    Phase("subnetwork", delete_subnetworks, blocks_the_rest=True),
    Phase("network", delete_networks),
    Phase("bindings", remove_bindings),
    Phase("service_account", delete_service_accounts),
    Phase("keys", destroy_keys, needs_destroy_keys=True),
)
PHASE_NAMES: tuple[str, ...] = tuple(p.name for p in PHASES)


def phase_named(name: str) -> Phase:
    for phase in PHASES:
        if phase.name == name:
            return phase
    raise ValueError(f"unknown teardown phase {name!r}; accepted: {', '.join(PHASE_NAMES)}")


def run_phase(
    clients: Clients, target: LabTarget, name: str, *, destroy_keys: bool = False, dry_run: bool = False
) -> list[Row]:
    phase = phase_named(name)
    options: dict[str, bool] = {"dry_run": dry_run}
    if phase.needs_destroy_keys:
        options["destroy_keys"] = destroy_keys
    return phase.run(clients, target, **options)


def teardown(
    clients: Clients, target: LabTarget, *, destroy_keys: bool = False, dry_run: bool = False
) -> Report:
    """All phases in order (the Prefect flow runs the same phases, one task run each)."""
    report = Report(target.project_id, target.lab, dry_run)
    for phase in PHASES:
        rows = run_phase(clients, target, phase.name, destroy_keys=destroy_keys, dry_run=dry_run)
        report.add(rows)
        if phase.blocks(rows):
            break
    return report
