"""Tearing a lab down: in dependency order, only what carries the lab's marker, safe to rerun.

Each phase reads the live state when it starts, so a rerun after a crash (or a teardown of a lab that is
already gone) simply finds less to do. A resource that has the lab's name but no marker, or another lab's
marker, is reported and left alone. 404 on delete is success. `dry_run` lists and deletes nothing.

Order: workload (LoadBalancer Services first, so GKE removes their forwarding and firewall rules) ->
cluster (wait) -> leftover GKE/`k8s-fw-*` firewall rules of the lab's network -> router (Cloud NAT) ->
subnet -> network -> the node service account's project bindings -> the service account -> with
`destroy_keys`, destruction of the keys' live versions (key rings and keys themselves are reused).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from google.api_core import exceptions as gexc
from google.iam.v1 import policy_pb2

from gke_lab import echo, kube, ops, retry
from gke_lab import inventory as inv
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.spec import LabSpec

DELETED = "deleted"
WOULD_DELETE = "would delete"
ALREADY_GONE = "already gone"
KEPT = "kept"
FAILED = "failed"
SCHEDULED = "destruction scheduled"
WOULD_SCHEDULE = "would schedule destruction"

PHASES = (
    "workload",
    "cluster",
    "firewalls",
    "router",
    "subnetwork",
    "network",
    "bindings",
    "service_account",
    "keys",
)


@dataclass(frozen=True)
class LabTarget:
    """Which lab to tear down: its identity, and (when known) the spec that names its resources."""

    project_id: str
    lab: str
    regions: tuple[str, ...] = ()
    spec: LabSpec | None = None

    @classmethod
    def from_spec(cls, spec: LabSpec) -> LabTarget:
        return cls(spec.project_id, spec.lab, (spec.region,), spec)

    @property
    def concurrency_key(self) -> str:
        return f"gke-lab:{self.project_id}:{self.lab}"

    @property
    def all_regions(self) -> tuple[str, ...]:
        extra = (self.spec.region, self.spec.kms_location) if self.spec else ()
        return tuple(sorted(set(self.regions) | set(extra)))


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
        return [r for r in self.rows if r.action == FAILED]

    def to_dict(self) -> dict:
        return {
            "project_id": self.project_id,
            "lab": self.lab,
            "dry_run": self.dry_run,
            "rows": [asdict(r) for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
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


def _delete(fn: Callable[[], object], *, resource: str) -> bool:
    """Run a delete call with transient retries; False when the resource was already gone (404)."""

    def run() -> bool:
        try:
            fn()
        except gexc.NotFound:
            return False
        return True

    return retry.call(run, resource=resource, action="delete")


def _kept(phase: str, r: inv.Resource, lab: str) -> Row:
    return Row(phase, r.kind, r.ref, KEPT, r.keep_reason(lab))


def _select(
    phase: str, found: list[inv.Resource], lab: str, named: set[str] | None = None
) -> tuple[list[inv.Resource], list[Row]]:
    """Split into resources to delete (ours) and rows for same-named ones that are kept."""
    named = named or set()
    ours, rows = [], []
    for r in found:
        if r.owner(lab) == inv.OURS:
            ours.append(r)
        elif r.name in named:
            rows.append(_kept(phase, r, lab))
    return ours, rows


def _guard(phase: str, r: inv.Resource, fn: Callable[[], Row]) -> Row:
    try:
        return fn()
    except LabError as exc:  # a permanent failure: report it, keep going with independent resources
        return Row(phase, r.kind, r.ref, FAILED, str(exc))


def _cluster_locations(target: LabTarget) -> tuple[str, ...]:
    return target.all_regions or ("-",)


# ------------------------------------------------------------------------------------------------ phases


def owned_clusters(clients: Clients, target: LabTarget) -> tuple[list[inv.Resource], list[Row]]:
    found = inv.clusters(clients, target.project_id, _cluster_locations(target))
    named = {target.spec.cluster.name} if target.spec else set()
    return _select("cluster", found, target.lab, named)


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

    api = kube.api_client_for_cluster(c.raw, clients.access_token())
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
    for svc in sorted(services.items, key=lambda s: s.spec.type != "LoadBalancer"):
        ns, name, labels = svc.metadata.namespace, svc.metadata.name, svc.metadata.labels or {}
        if svc.spec.type == "LoadBalancer":
            why = "LoadBalancer Service (its load balancer and firewall rule go with it)"
        elif labels.get(_OWNED_KEY) == _OWNED_VALUE:
            why = "echo workload"
        else:
            continue
        todo.append(
            ("service", ns, name, why, lambda ns=ns, name=name: core.delete_namespaced_service(name, ns))
        )
    for d in deployments.items:
        ns, name = d.metadata.namespace, d.metadata.name
        todo.append(
            (
                "deployment",
                ns,
                name,
                "echo workload",
                lambda ns=ns, name=name: apps.delete_namespaced_deployment(name, ns),
            )
        )
    rows: list[Row] = []
    for kind, ns, name, why, fn in todo:
        ref = f"{c.name}:{ns}/{name}"
        if dry_run:
            rows.append(Row("workload", kind, ref, WOULD_DELETE, why))
            continue
        existed = _kube_delete(fn, ref)
        rows.append(Row("workload", kind, ref, DELETED if existed else ALREADY_GONE, why))
    return rows


_OWNED_KEY, _OWNED_VALUE = next(iter(echo.OWNER_LABEL.items()))
_OWNED_SELECTOR = f"{_OWNED_KEY}={_OWNED_VALUE}"


def _kube_delete(fn: Callable[[], object], ref: str) -> bool:
    def run() -> bool:
        try:
            fn()
        except Exception as exc:
            if kube.is_not_found(exc):
                return False
            raise
        return True

    return kube.call(run, resource=ref, action="delete")


def delete_clusters(
    clients: Clients, target: LabTarget, *, dry_run: bool = False, timeout: float = 3600
) -> list[Row]:
    clusters, rows = owned_clusters(clients, target)
    for c in clusters:
        if dry_run:
            rows.append(Row("cluster", "cluster", c.ref, WOULD_DELETE, "carries this lab's marker"))
            continue
        rows.append(_guard("cluster", c, lambda c=c: _delete_cluster(clients, target, c, timeout)))
    return rows


def _delete_cluster(clients: Clients, target: LabTarget, c: inv.Resource, timeout: float) -> Row:
    parent = f"projects/{target.project_id}/locations/{c.location}"
    name = f"{parent}/clusters/{c.name}"
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            op = retry.call(
                lambda: clients.container.delete_cluster(name=name), resource=name, action="delete"
            )
        except LabError as exc:
            if isinstance(exc.__cause__, gexc.NotFound):
                return Row("cluster", "cluster", c.ref, DELETED, "carries this lab's marker")
            if not isinstance(exc.__cause__, gexc.FailedPrecondition | gexc.BadRequest):
                raise
            # Another operation (a create cut short, or an earlier run's delete) may still be running.
            status = _cluster_status(clients, name)
            if status is None:
                return Row("cluster", "cluster", c.ref, DELETED, "carries this lab's marker")
            if status not in _BUSY or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(5.0, delay * 1.5)
            continue
        ops.wait_container(clients, op, location_path=parent, resource=name, timeout=timeout)
        return Row("cluster", "cluster", c.ref, DELETED, "carries this lab's marker")


_BUSY = ("PROVISIONING", "STOPPING", "RECONCILING")


def _cluster_status(clients: Clients, name: str) -> str | None:
    def run() -> str | None:
        try:
            return clients.container.get_cluster(name=name).status.name
        except gexc.NotFound:
            return None

    return retry.call(run, resource=name, action="get")


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
        if f.owner(target.lab) == inv.OURS:
            reason = "carries this lab's marker"
        elif f.network in our_nets and f.marker is None and f.name.startswith(("k8s-", "gke-")):
            reason = f"created by GKE in this lab's network {f.network}"
        elif f.network in our_nets:
            rows.append(_kept("firewalls", f, target.lab))
            continue
        else:
            continue
        if dry_run:
            rows.append(Row("firewalls", "firewall", f.ref, WOULD_DELETE, reason))
            continue
        rows.append(
            _guard("firewalls", f, lambda f=f, reason=reason: _delete_firewall(clients, target, f, reason))
        )
    return rows


def _delete_firewall(clients: Clients, target: LabTarget, f: inv.Resource, reason: str) -> Row:
    project = target.project_id
    resource = f"projects/{project}/global/firewalls/{f.name}"
    ops_ = []
    existed = _delete(
        lambda: ops_.append(clients.firewalls.delete_unary(project=project, firewall=f.name)),
        resource=resource,
    )
    if existed and ops_:
        ops.wait_compute(clients, ops_[-1], project=project, resource=resource)
    return Row("firewalls", "firewall", f.ref, DELETED if existed else ALREADY_GONE, reason)


def _regional_phase(
    clients: Clients,
    target: LabTarget,
    *,
    phase: str,
    lister: Callable[[Clients, str, set[str]], list[inv.Resource]],
    named: set[str],
    deleter: Callable[[str, str, str], object],
    path: str,
    dry_run: bool,
) -> list[Row]:
    nets, _ = owned_networks(clients, target)
    found = lister(clients, target.project_id, _regions(clients, target, nets))
    ours, rows = _select(phase, found, target.lab, named)
    for r in ours:
        if dry_run:
            rows.append(Row(phase, r.kind, r.ref, WOULD_DELETE, "carries this lab's marker"))
            continue

        def one(r=r) -> Row:
            project = target.project_id
            resource = f"projects/{project}/regions/{r.location}/{path}/{r.name}"
            ops_ = []
            existed = _delete(lambda: ops_.append(deleter(project, r.location, r.name)), resource=resource)
            if existed and ops_:
                ops.wait_compute(clients, ops_[-1], project=project, region=r.location, resource=resource)
            return Row(
                phase, r.kind, r.ref, DELETED if existed else ALREADY_GONE, "carries this lab's marker"
            )

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
            rows.append(Row("network", "network", n.ref, WOULD_DELETE, "carries this lab's marker"))
            continue

        def one(n=n) -> Row:
            resource = f"projects/{project}/global/networks/{n.name}"
            ops_ = []
            existed = _delete(
                lambda: ops_.append(clients.networks.delete_unary(project=project, network=n.name)),
                resource=resource,
            )
            if existed and ops_:
                ops.wait_compute(clients, ops_[-1], project=project, resource=resource)
            return Row(
                "network", "network", n.ref, DELETED if existed else ALREADY_GONE, "carries this lab's marker"
            )

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
            rows.append(
                Row("service_account", "service_account", a.ref, WOULD_DELETE, "carries this lab's marker")
            )
            continue

        def one(a=a) -> Row:
            name = f"projects/{target.project_id}/serviceAccounts/{a.name}"
            existed = _delete(lambda: clients.iam.delete_service_account(name=name), resource=name)
            return Row(
                "service_account",
                "service_account",
                a.ref,
                DELETED if existed else ALREADY_GONE,
                "carries this lab's marker",
            )

        rows.append(_guard("service_account", a, one))
    return rows


def destroy_keys(clients: Clients, target: LabTarget, *, enabled: bool, dry_run: bool = False) -> list[Row]:
    """Schedule destruction of live versions of our keys (when asked); key rings and keys stay for reuse."""
    named = (
        {target.spec.key_name("node"), target.spec.key_name("secrets")} if target.spec is not None else set()
    )
    found = inv.crypto_keys(clients, target.project_id, target.all_regions or _regions(clients, target, []))
    ours, rows = _select("keys", found, target.lab, named)
    for k in ours:
        if not enabled:
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

            def one(v=v) -> Row:
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


def run_phase(
    clients: Clients, target: LabTarget, phase: str, *, destroy_keys_: bool, dry_run: bool
) -> list[Row]:
    if phase == "keys":  # the one phase that is opt-in
        return destroy_keys(clients, target, enabled=destroy_keys_, dry_run=dry_run)
    step = _PHASE_STEPS.get(phase)
    if step is None:
        raise ValueError(f"unknown teardown phase {phase!r}; accepted: {', '.join(PHASES)}")
    return step(clients, target, dry_run=dry_run)


_PHASE_STEPS: dict[str, Callable[..., list[Row]]] = {
    "workload": remove_workload,
    "cluster": delete_clusters,
    "firewalls": delete_firewalls,
    "router": delete_routers,
    "subnetwork": delete_subnetworks,
    "network": delete_networks,
    "bindings": remove_bindings,
    "service_account": delete_service_accounts,
}


def teardown(
    clients: Clients, target: LabTarget, *, destroy_keys: bool = False, dry_run: bool = False
) -> Report:
    """All phases in order (the Prefect flow runs the same phases as tasks)."""
    report = Report(target.project_id, target.lab, dry_run)
    for phase in PHASES:
        rows = run_phase(clients, target, phase, destroy_keys_=destroy_keys, dry_run=dry_run)
        report.add(rows)
        if blocks_the_rest(phase, rows):
            break
    return report


def blocks_the_rest(phase: str, rows: list[Row]) -> bool:
    """A cluster that could not be deleted still uses the network, NAT, node account and keys: stop there
    (a rerun continues) rather than pull them from under a live cluster."""
    return phase == "cluster" and any(r.action == FAILED for r in rows)
