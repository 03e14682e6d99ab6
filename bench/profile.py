"""The reference latency profile and the critical paths the benchmarks divide by.

The profile is the emulator's latency table (emulator/latency.py, documented in DESIGN.md "Reference
latency profile", seconds at latency scale 1.0), read as data: a copy here drifted from the emulator's keys,
so the benchmarks now divide by exactly the waits the emulator simulates. Only the table is imported, never
the emulator's services.

A critical path is the longest chain of waits through a DAG whose nodes are profile entries: the least
wall time any implementation could take given those latencies, with unlimited parallelism.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.latency import PROFILE


@dataclass(frozen=True)
class Step:
    """One wait in a DAG: a profile entry and the steps that must finish before it starts."""

    name: str
    cost: str | None  # key into PROFILE; None for zero-cost joins
    after: tuple[str, ...] = ()


# issue "provisioning flow", DAG: branch A (default network: its four default-allow-* rules, deletable in
# parallel, then the network), branch B (VPC -> subnet -> router with NAT), branch C (key ring -> two keys
# -> their bindings -> IAM propagation before GKE can use them), branch D (service account -> project roles
# in one read-modify-write), then the cluster create after B, C, D, then the echo rollout.
PROVISION_DAG: tuple[Step, ...] = (
    *(Step(f"A.firewall[{i}].delete", "firewalls.delete") for i in range(4)),
    Step("A.default-network.delete", "networks.delete", tuple(f"A.firewall[{i}].delete" for i in range(4))),
    Step("B.network.insert", "networks.insert"),
    Step("B.subnetwork.insert", "subnetworks.insert", ("B.network.insert",)),
    Step("B.router.insert", "routers.insert", ("B.network.insert",)),
    Step("C.keyring.create", "keyRings.create"),
    Step("C.node-key.create", "cryptoKeys.create", ("C.keyring.create",)),
    Step("C.secret-key.create", "cryptoKeys.create", ("C.keyring.create",)),
    Step("C.node-key.setIamPolicy", "setIamPolicy", ("C.node-key.create",)),
    Step("C.secret-key.setIamPolicy", "setIamPolicy", ("C.secret-key.create",)),
    Step("C.propagation", "iam.propagation", ("C.node-key.setIamPolicy", "C.secret-key.setIamPolicy")),
    Step("D.service-account.create", "serviceAccounts.create"),
    Step("D.project.setIamPolicy", "setIamPolicy", ("D.service-account.create",)),
    Step(
        "cluster.create",
        "clusters.create",
        ("B.subnetwork.insert", "B.router.insert", "C.propagation", "D.project.setIamPolicy"),
    ),
    Step("echo.pods.ready", "pod.ready", ("cluster.create",)),
    Step("echo.endpoints.ready", "endpoints.ready", ("echo.pods.ready",)),
)

# issue "teardown": workloads -> cluster (GKE's own rules and peering go with it) -> router and subnet ->
# network; the service account's bindings and the account itself do not depend on the network chain.
TEARDOWN_DAG: tuple[Step, ...] = (
    Step("cluster.delete", "clusters.delete"),
    Step("router.delete", "routers.delete", ("cluster.delete",)),
    Step("subnetwork.delete", "subnetworks.delete", ("cluster.delete",)),
    Step("network.delete", "networks.delete", ("router.delete", "subnetwork.delete")),
    Step("project.setIamPolicy", "setIamPolicy", ("cluster.delete",)),
    Step("service-account.delete", "serviceAccounts.delete", ("project.setIamPolicy",)),
)


def critical_path(
    dag: tuple[Step, ...], scale: float = 1.0, profile: dict[str, float] = PROFILE
) -> tuple[float, list[str]]:
    """Longest chain of waits through `dag` at `scale`: (seconds, step names along the chain)."""
    by_name = {s.name: s for s in dag}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}

    def visit(name: str) -> float:
        if name not in finish:
            step = by_name[name]
            start, prev = 0.0, None
            for dep in step.after:
                if visit(dep) > start:
                    start, prev = finish[dep], dep
            finish[name] = start + (profile[step.cost] * scale if step.cost else 0.0)
            via[name] = prev
        return finish[name]

    end = max(dag, key=lambda s: visit(s.name)).name
    chain: list[str] = []
    node: str | None = end
    while node is not None:
        chain.append(node)
        node = via[node]
    return finish[end], chain[::-1]


def provision_critical_path(scale: float) -> tuple[float, list[str]]:
    return critical_path(PROVISION_DAG, scale)


def teardown_critical_path(scale: float) -> tuple[float, list[str]]:
    return critical_path(TEARDOWN_DAG, scale)
