"""CIS GKE Benchmark checks that can be read from the live `container_v1.Cluster` object.

Each check reads the modern field and its deprecated predecessor (GKE still returns both on
clusters created the old way), and reports the field path that decided the result and its value.
References follow the CIS Google Kubernetes Engine (GKE) Benchmark v1.5.0 numbering unless noted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from google.cloud import container_v1

_CIS = "CIS GKE Benchmark v1.5.0"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    cis: str
    passed: bool
    field: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jsonable(value: Any) -> Any:
    """Plain JSON value for an artifact: enums by name, repeated fields as lists."""
    if hasattr(value, "name") and hasattr(value, "value") and isinstance(value.value, int):
        return value.name
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return str(value)


def _has(message: Any, field: str) -> bool:
    """Whether a proto-plus sub-message is present (not merely defaulted)."""
    try:
        return field in message
    except TypeError:
        return False


def _pools(cluster: container_v1.Cluster) -> list[tuple[str, Any]]:
    """(path prefix, NodeConfig) for every node pool; the deprecated cluster.node_config as a fallback."""
    pools = [(f"node_pools[{p.name}].config", p.config) for p in cluster.node_pools]
    if not pools and _has(cluster, "node_config"):
        pools = [("node_config", cluster.node_config)]
    return pools


def _per_pool(
    cluster: container_v1.Cluster, attr: str, ok: Callable[[Any], bool], check_id: str, title: str, cis: str
) -> Check:
    pools = _pools(cluster)
    if not pools:
        return Check(check_id, title, cis, False, f"node_pools[].config.{attr}", None)
    values: dict[str, Any] = {}
    for prefix, config in pools:
        value = config
        for part in attr.split("."):
            value = getattr(value, part)
        values[f"{prefix}.{attr}"] = _jsonable(value)
    passed = all(ok(v) for v in values.values())
    if len(values) == 1:
        ((field, value),) = values.items()
        return Check(check_id, title, cis, passed, field, value)
    return Check(check_id, title, cis, passed, f"node_pools[].config.{attr}", values)


def _private_nodes(c: container_v1.Cluster) -> Check:
    title, cis = "Nodes have private IP addresses only", f"{_CIS} 5.6.5"
    if c.network_config.default_enable_private_nodes:
        return Check("private-nodes", title, cis, True, "network_config.default_enable_private_nodes", True)
    legacy = c.private_cluster_config.enable_private_nodes
    return Check(
        "private-nodes", title, cis, bool(legacy), "private_cluster_config.enable_private_nodes", legacy
    )


def _authorized_networks_config(c: container_v1.Cluster) -> tuple[str, Any]:
    ip = c.control_plane_endpoints_config.ip_endpoints_config
    if _has(c, "control_plane_endpoints_config") and _has(ip, "authorized_networks_config"):
        return "control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config", (
            ip.authorized_networks_config
        )
    return "master_authorized_networks_config", c.master_authorized_networks_config


def _authorized_networks(c: container_v1.Cluster) -> Check:
    path, config = _authorized_networks_config(c)
    if not config.enabled and path != "master_authorized_networks_config":
        # A cluster may carry the setting in the legacy field only.
        legacy = c.master_authorized_networks_config
        if legacy.enabled:
            path, config = "master_authorized_networks_config", legacy
    return Check(
        "authorized-networks",
        "Control plane authorized networks are enabled",
        f"{_CIS} 5.6.3",
        bool(config.enabled),
        f"{path}.enabled",
        bool(config.enabled),
    )


def _is_public(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return True  # unparseable: do not vouch for it


def _not_public(c: container_v1.Cluster) -> Check:
    path, config = _authorized_networks_config(c)
    if not config.enabled and c.master_authorized_networks_config.enabled:
        path, config = "master_authorized_networks_config", c.master_authorized_networks_config
    cidrs = [b.cidr_block for b in config.cidr_blocks]
    passed = bool(config.enabled) and not any(_is_public(x) for x in cidrs)
    return Check(
        "authorized-networks-not-public",
        "Control plane is not open to 0.0.0.0/0",
        f"{_CIS} 5.6.3, 5.6.4",
        passed,
        f"{path}.cidr_blocks",
        cidrs,
    )


def _network_policy(c: container_v1.Cluster) -> Check:
    title, cis = "Network policy enforcement is enabled", f"{_CIS} 5.6.7"
    if c.network_config.datapath_provider == container_v1.DatapathProvider.ADVANCED_DATAPATH:
        return Check(
            "network-policy", title, cis, True, "network_config.datapath_provider", "ADVANCED_DATAPATH"
        )
    enabled = bool(c.network_policy.enabled) and not c.addons_config.network_policy_config.disabled
    value = {
        "network_policy.enabled": bool(c.network_policy.enabled),
        "network_policy.provider": _jsonable(c.network_policy.provider),
        "addons_config.network_policy_config.disabled": bool(c.addons_config.network_policy_config.disabled),
    }
    return Check("network-policy", title, cis, enabled, "network_policy", value)


def _workload_identity(c: container_v1.Cluster) -> Check:
    pool = c.workload_identity_config.workload_pool
    return Check(
        "workload-identity",
        "Workload Identity is enabled",
        f"{_CIS} 5.2.2",
        pool.endswith(".svc.id.goog"),
        "workload_identity_config.workload_pool",
        pool,
    )


def _shielded_nodes(c: container_v1.Cluster) -> Check:
    return Check(
        "shielded-nodes",
        "Shielded GKE Nodes are enabled",
        f"{_CIS} 5.5.5",
        bool(c.shielded_nodes.enabled),
        "shielded_nodes.enabled",
        bool(c.shielded_nodes.enabled),
    )


def _secrets_cmek(c: container_v1.Cluster) -> Check:
    state = c.database_encryption.state
    ok_states = {
        container_v1.DatabaseEncryption.State.ENCRYPTED,
        container_v1.DatabaseEncryption.State.ALL_OBJECTS_ENCRYPTION_ENABLED,
    }
    key = c.database_encryption.key_name
    return Check(
        "secrets-cmek",
        "Kubernetes Secrets are encrypted with a Cloud KMS key",
        f"{_CIS} 5.3.1",
        state in ok_states and bool(key),
        "database_encryption",
        {"state": _jsonable(state), "key_name": key},
    )


def _default_sa(email: str) -> bool:
    return email in ("", "default") or email.endswith("-compute@developer.gserviceaccount.com")


def _legacy_abac(c: container_v1.Cluster) -> Check:
    return Check(
        "legacy-abac-disabled",
        "Legacy authorization (ABAC) is disabled",
        f"{_CIS} 5.8.3",
        not c.legacy_abac.enabled,
        "legacy_abac.enabled",
        bool(c.legacy_abac.enabled),
    )


def _basic_auth(c: container_v1.Cluster) -> Check:
    username = c.master_auth.username
    return Check(
        "basic-auth-disabled",
        "Basic authentication with static passwords is disabled",
        "CIS GKE Benchmark v1.2.0 6.8.1",
        not username and not c.master_auth.password,
        "master_auth.username",
        username,  # the password is never reported
    )


def _client_certificate(c: container_v1.Cluster) -> Check:
    issue = bool(c.master_auth.client_certificate_config.issue_client_certificate)
    has_cert = bool(c.master_auth.client_certificate)
    return Check(
        "client-certificate-disabled",
        "Authentication with client certificates is disabled",
        f"{_CIS} 5.8.1",
        not issue and not has_cert,
        "master_auth.client_certificate_config.issue_client_certificate",
        issue,
    )


def _telemetry(c: container_v1.Cluster, kind: str) -> Check:
    """Logging or monitoring: the modern component config, else the legacy *_service string."""
    config = getattr(c, f"{kind}_config")
    service = getattr(c, f"{kind}_service")
    components = [_jsonable(x) for x in config.component_config.enable_components]
    check_id, title = f"{kind}-enabled", f"Cloud {kind.capitalize()} is enabled"
    cis = f"{_CIS} 5.7.1"
    if _has(c, f"{kind}_config") and _has(config, "component_config"):
        return Check(
            check_id,
            title,
            cis,
            bool(components),
            f"{kind}_config.component_config.enable_components",
            components,
        )
    passed = bool(service) and service != "none"
    return Check(check_id, title, cis, passed, f"{kind}_service", service)


def audit(cluster: container_v1.Cluster) -> list[dict[str, Any]]:
    """All checks as JSON-able dicts: id, title, cis, passed, field, value."""
    checks = [
        _private_nodes(cluster),
        _authorized_networks(cluster),
        _not_public(cluster),
        _network_policy(cluster),
        _workload_identity(cluster),
        _shielded_nodes(cluster),
        _per_pool(
            cluster,
            "shielded_instance_config.enable_secure_boot",
            bool,
            "secure-boot",
            "Secure Boot is enabled on nodes",
            f"{_CIS} 5.5.7",
        ),
        _per_pool(
            cluster,
            "shielded_instance_config.enable_integrity_monitoring",
            bool,
            "integrity-monitoring",
            "Integrity monitoring is enabled on nodes",
            f"{_CIS} 5.5.6",
        ),
        _secrets_cmek(cluster),
        _per_pool(
            cluster,
            "boot_disk_kms_key",
            bool,
            "boot-disk-cmek",
            "Node boot disks are encrypted with a Cloud KMS key",
            f"{_CIS} 5.9.2",
        ),
        _per_pool(
            cluster,
            "service_account",
            lambda v: not _default_sa(v),
            "node-service-account",
            "Nodes do not run as the Compute Engine default service account",
            f"{_CIS} 5.2.1",
        ),
        _auto_repair(cluster),
        _release_channel(cluster),
        _per_pool(
            cluster,
            "image_type",
            lambda v: str(v).upper() == "COS_CONTAINERD",
            "cos-containerd",
            "Nodes use Container-Optimized OS with containerd",
            f"{_CIS} 5.5.1",
        ),
        _legacy_abac(cluster),
        _basic_auth(cluster),
        _client_certificate(cluster),
        _telemetry(cluster, "logging"),
        _telemetry(cluster, "monitoring"),
    ]
    return [c.to_dict() for c in checks]


def _exclusions(c: container_v1.Cluster) -> list[str]:
    out = []
    for name, window in c.maintenance_policy.window.maintenance_exclusions.items():
        options = window.maintenance_exclusion_options
        end = window.end_time.isoformat() if window.end_time else "end of support"
        out.append(f"{name}: {options.scope.name} until {end}")
    return out


def _release_channel(c: container_v1.Cluster) -> Check:
    """Enrolled in a release channel (no channel is deprecated); shows version and upgrade holds too."""
    channel = c.release_channel.channel
    value = {
        "channel": channel.name,
        "version": c.current_master_version or c.initial_cluster_version,
        "exclusions": _exclusions(c),
    }
    unspecified = container_v1.ReleaseChannel.Channel.UNSPECIFIED
    return Check(
        "release-channel",
        "The cluster is enrolled in a release channel",
        f"{_CIS} 5.5.4",
        channel != unspecified,
        "release_channel.channel",
        value,
    )


def _auto_repair(c: container_v1.Cluster) -> Check:
    title, cis = "Node auto-repair is enabled", f"{_CIS} 5.5.2"
    values = {
        f"node_pools[{p.name}].management.auto_repair": bool(p.management.auto_repair) for p in c.node_pools
    }
    if not values:
        return Check("auto-repair", title, cis, False, "node_pools[].management.auto_repair", None)
    if len(values) == 1:
        ((field, value),) = values.items()
        return Check("auto-repair", title, cis, value, field, value)
    return Check(
        "auto-repair", title, cis, all(values.values()), "node_pools[].management.auto_repair", values
    )


def summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [c["id"] for c in checks if not c["passed"]]
    return {"total": len(checks), "passed": len(checks) - len(failed), "failed": failed}
