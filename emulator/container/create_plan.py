"""A cluster create decided before anything changes: GKE's synchronous checks (400/403) as small rules,
each returning its part of one typed plan that the create then carries out.

The rules run in the order GKE reports problems (node pools, zones, version, network, ranges, control
plane, authorized networks, identities, keys, labels), so the first error a request meets stays the same.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.compute import ComputeService
from emulator.compute.common import ref_name, zones_of
from emulator.compute.quotas import node_pool_needs
from emulator.container.common import ENCRYPTER, KEY_RE, ZONE_RE, check_labels, free_range
from emulator.container.server_config import (
    END_OF_STANDARD_SUPPORT,
    IMAGE_TYPES,
    LEGACY,
    minor_of,
    offer_for,
    resolve_version,
)
from emulator.errors import failed_precondition, invalid, permission_denied
from emulator.store import Backend, Project


class Services(Protocol):
    """What the rules read besides the request: the backend, Compute's ranges, IAM accounts, KMS keys."""

    backend: Backend
    compute: ComputeService
    kms: Any
    iam: Any


@dataclass(frozen=True)
class CreatePlan:
    node_pools: tuple[dict[str, Any], ...]  # as requested (a legacy top-level node config becomes one pool)
    zones: tuple[str, ...]
    version: str
    channel: str
    network: dict[str, Any]  # the stored network and subnetwork the cluster uses
    subnetwork: dict[str, Any]
    pods_cidr: str
    services_cidr: str
    private: bool
    max_pods_per_node: int
    master_cidr: str | None  # the control plane's /28 (private clusters)
    authorized_networks: dict[str, Any] | None  # the request's config, echoed in the cluster
    authorized_cidrs: tuple[str, ...] | None  # None: the endpoint takes any source
    boot_disk_keys: tuple[str, ...]


def plan_create(
    services: Services, project: Project, location: str, region: str, spec: dict[str, Any]
) -> CreatePlan:
    """Run every rule against the request (normalised Cluster JSON); raise the first error GKE would."""
    pools = node_pools(spec)
    zones = node_zones(spec, location, region)
    version, channel = release(spec, pools, project)
    check_maintenance_policy(spec, channel, version, services.backend.clock.now())
    check_image_types(pools, version)
    network, subnetwork = network_and_subnetwork(project, spec, region)
    private = is_private(spec)
    pods, cluster_services = cluster_ranges(services.compute, project, spec, network, subnetwork, private)
    max_pods = max_pods_per_node(spec)
    master = control_plane_range(services.compute, project, spec, network, private)
    authorized, cidrs = authorized_networks(spec, private)
    check_node_service_accounts(services.iam, project, pools)
    boot_keys = boot_disk_keys(services, project, pools, region)
    check_secrets_key(services, project, spec, region)
    check_labels(spec.get("resourceLabels", {}))
    # last, as GKE accepts a request only when it would fit the region's quotas (compute/quotas.py)
    services.compute.check_quota(project, region, node_pool_needs(pools, len(zones), private))
    return CreatePlan(
        node_pools=pools,
        zones=zones,
        version=version,
        channel=channel,
        network=network,
        subnetwork=subnetwork,
        pods_cidr=pods,
        services_cidr=cluster_services,
        private=private,
        max_pods_per_node=max_pods,
        master_cidr=master,
        authorized_networks=authorized,
        authorized_cidrs=cidrs,
        boot_disk_keys=boot_keys,
    )


# ---- rules ------------------------------------------------------------------------------------
def node_pools(spec: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    pools = spec.get("nodePools") or []
    if not pools:
        if not spec.get("initialNodeCount"):
            raise invalid("Cluster.initial_node_count must be greater than zero, or node_pools must be set.")
        pools = [
            {
                "name": "default-pool",
                "initialNodeCount": spec["initialNodeCount"],
                "config": spec.get("nodeConfig", {}),
            }
        ]
    for i, pool in enumerate(pools):
        if not pool.get("name"):
            raise invalid(f'Invalid value for field "cluster.node_pools[{i}].name": "".')
        if int(pool.get("initialNodeCount", 0)) <= 0 and not pool.get("autoscaling", {}).get("enabled"):
            raise invalid(f'Node pool "{pool["name"]}": initial_node_count must be greater than zero.')
    return tuple(pools)


def node_zones(spec: dict[str, Any], location: str, region: str) -> tuple[str, ...]:
    zones = spec.get("locations") or ([location] if ZONE_RE.match(location) else zones_of(region))
    for zone in zones:
        m = ZONE_RE.match(zone)
        if not m or m.group(1) != region:
            raise invalid(
                f'Invalid value for field "cluster.locations": zone "{zone}" is not in region "{region}".'
            )
    return tuple(sorted(zones))


NO_CHANNEL_REFUSED = (
    'Creating a cluster that is not enrolled in a release channel ("No channel") is only allowed for '
    "existing customers; this project cannot create or update a cluster to use it. Set "
    "release_channel.channel to RAPID, REGULAR, STABLE or EXTENDED."
)


def release(
    spec: dict[str, Any], pools: tuple[dict[str, Any], ...], project: Project | None = None
) -> tuple[str, str]:
    """(version, release channel): no releaseChannel field means REGULAR; a channel needs auto-upgrading
    node pools; the version must be one the channel (or, without a channel, the location) offers."""
    legacy = project is None or project.legacy
    offer = offer_for(legacy)
    # GKE enrolls Standard clusters in a release channel by default
    # (https://cloud.google.com/kubernetes-engine/docs/how-to/release-channels).
    channel = spec["releaseChannel"].get("channel", "UNSPECIFIED") if "releaseChannel" in spec else "REGULAR"
    requested = spec.get("initialClusterVersion", "")
    if channel not in offer.channels:
        # "No channel" is deprecated, only allowed for existing customers, removed on 2027-06-14: "New
        # customers can't create or update their cluster to use this configuration option"
        # (https://cloud.google.com/kubernetes-engine/docs/release-notes-nochannel).
        if project is not None and not project.existing_customer:
            raise invalid(NO_CHANNEL_REFUSED)
        version = resolve_version(requested, offer.valid_master_versions, offer.default_version)
        if version is None:
            raise invalid(f'Master version "{requested}" is unsupported.')
        return version, channel
    if legacy and resolve_version(requested, LEGACY.valid_master_versions) is None:
        raise invalid(f'Master version "{requested}" is unsupported.')
    offered = offer.channels[channel]
    # a channel's version comes from serverConfig.channels[].validVersions, its default first
    # (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels)
    version = resolve_version(requested, offered, offer.default_version if legacy else offered[0])
    if version is None:
        raise invalid(
            f'Version "{requested}" is not supported in the {channel} release channel; valid '
            f"versions are {', '.join(offered)}."
        )
    # release channels require node auto-upgrade
    # (https://cloud.google.com/kubernetes-engine/docs/concepts/node-auto-upgrades)
    for pool in pools:
        management = pool.get("management")
        auto_upgrade = True if management is None else bool(management.get("autoUpgrade", False))
        if not auto_upgrade:
            raise invalid(
                f"Auto_upgrade must be true when release_channel {channel} is set (node pool "
                f'"{pool["name"]}").'
            )
    return version, channel


EXCLUSION_SCOPES = ("NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES")
NO_UPGRADES_MAX = 30 * 86400


def _time(value: Any, field: str) -> float:
    try:
        return _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid(f'Invalid value for field "{field}": "{value}" is not an RFC 3339 timestamp.') from None


def check_maintenance_policy(spec: dict[str, Any], channel: str, version: str, now: float) -> None:
    """Maintenance exclusions as GKE limits them
    (https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-windows-and-exclusions):
    scope NO_UPGRADES lasts at most 30 days; NO_MINOR_UPGRADES and NO_MINOR_OR_NODE_UPGRADES end at the
    latest when the cluster's minor version reaches its end of standard support, and need a release
    channel; the end comes after the start."""
    window = ((spec.get("maintenancePolicy") or {}).get("window")) or {}
    exclusions = window.get("maintenanceExclusions") or {}
    if not isinstance(exclusions, dict):
        raise invalid('Invalid value for field "cluster.maintenance_policy.window.maintenance_exclusions".')
    for name, exclusion in exclusions.items():
        field = f"cluster.maintenance_policy.window.maintenance_exclusions[{name}]"
        options = (exclusion or {}).get("maintenanceExclusionOptions") or {}
        scope = options.get("scope", "NO_UPGRADES")
        if scope not in EXCLUSION_SCOPES:
            raise invalid(
                f'Invalid value for field "{field}.maintenance_exclusion_options.scope": "{scope}".'
            )
        start = _time(exclusion.get("startTime") or "", f"{field}.start_time")
        until_end_of_support = options.get("endTimeBehavior") == "UNTIL_END_OF_SUPPORT"
        end_of_support = END_OF_STANDARD_SUPPORT.get(minor_of(version))
        if until_end_of_support and scope != "NO_UPGRADES" and end_of_support is not None:
            end = end_of_support.timestamp()
        else:
            end = _time(exclusion.get("endTime") or "", f"{field}.end_time")
        if end <= start:
            raise invalid(f"Maintenance exclusion {name}: end_time must be after start_time.")
        if end <= now:
            raise invalid(f"Maintenance exclusion {name}: end_time must be in the future.")
        if scope == "NO_UPGRADES":
            if end - start > NO_UPGRADES_MAX:
                raise invalid(
                    f"Maintenance exclusion {name} with scope NO_UPGRADES cannot be longer than 30 days."
                )
            continue
        if channel not in ("RAPID", "REGULAR", "STABLE", "EXTENDED"):
            raise invalid(
                f"Maintenance exclusion {name}: scope {scope} requires the cluster to be enrolled in a "
                "release channel."
            )
        if end_of_support is not None and end > end_of_support.timestamp():
            raise invalid(
                f"Maintenance exclusion {name} with scope {scope} must end by the end of support of version "
                f"{minor_of(version)} ({end_of_support.strftime('%Y-%m-%dT%H:%M:%SZ')})."
            )


def check_image_types(pools: tuple[dict[str, Any], ...], version: str) -> None:
    for pool in pools:
        image = pool.get("config", {}).get("imageType", "COS_CONTAINERD")
        if image not in IMAGE_TYPES:
            raise invalid(
                f'Node pool "{pool["name"]}": image type "{image}" is not supported in version '
                f"{version}; supported image types: {', '.join(IMAGE_TYPES)}."
            )


def network_and_subnetwork(
    project: Project, spec: dict[str, Any], region: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ready network and subnetwork; without a subnetwork, the auto-mode one of the cluster's region."""
    net_ref = spec.get("network") or spec.get("networkConfig", {}).get("network") or "default"
    net = project.networks.get(ref_name(net_ref, "networks"))
    if net is None or net.get("_deleting"):
        raise invalid(f'Network "{ref_name(net_ref, "networks")}" does not exist.')
    if net.get("_pending"):
        raise failed_precondition(f'Network "{net["name"]}" is not ready.')
    sub_ref = spec.get("subnetwork") or spec.get("networkConfig", {}).get("subnetwork")
    if sub_ref:
        sub = project.subnetworks.get((region, ref_name(sub_ref, "subnetworks")))
        if sub is None or sub.get("_deleting"):
            raise invalid(
                f'Subnetwork "projects/{project.id}/regions/{region}/subnetworks/'
                f'{ref_name(sub_ref, "subnetworks")}" does not exist.'
            )
        if sub["network"] != net["selfLink"]:
            raise invalid(f'Subnetwork "{sub["name"]}" is not valid for network "{net["name"]}".')
    else:
        sub = next(
            (
                s
                for (r, _), s in project.subnetworks.items()
                if r == region and s["network"] == net["selfLink"] and s.get("_auto")
            ),
            None,
        )
        if sub is None:
            raise invalid(
                f'Network "{net["name"]}" is a custom mode network in region {region}: specify a subnetwork.'
            )
    if sub.get("_pending"):
        raise failed_precondition(f'Subnetwork "{sub["name"]}" is not ready.')
    return net, sub


def is_private(spec: dict[str, Any]) -> bool:
    return bool(
        spec.get("networkConfig", {}).get("defaultEnablePrivateNodes")
        or spec.get("privateClusterConfig", {}).get("enablePrivateNodes")
    )


def cluster_ranges(
    compute: ComputeService,
    project: Project,
    spec: dict[str, Any],
    network: dict[str, Any],
    subnetwork: dict[str, Any],
    private: bool,
) -> tuple[str, str]:
    """(pods, services) ranges: the named secondary ranges, or free ranges GKE picks in 10.0.0.0/8."""
    ipa = spec.get("ipAllocationPolicy", {})
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnetwork.get("secondaryIpRanges", [])}
    if private and not ipa.get("useIpAliases"):
        raise invalid(
            "IP aliases must be enabled (ip_allocation_policy.use_ip_aliases) for private clusters."
        )
    for field, label in (
        ("clusterSecondaryRangeName", "cluster_secondary_range_name"),
        ("servicesSecondaryRangeName", "services_secondary_range_name"),
    ):
        name = ipa.get(field)
        if name and name not in ranges:
            raise invalid(
                f'Secondary range "{name}" (ip_allocation_policy.{label}) does not exist in '
                f'network "{network["name"]}", subnetwork "{subnetwork["name"]}".'
            )
    taken = [cidr for cidr, *_ in compute.ranges_in_network(project, network["selfLink"])]
    pods = ranges.get(ipa.get("clusterSecondaryRangeName", "")) or str(free_range(14, taken, "10.0.0.0/8"))
    taken.append(ipaddress.IPv4Network(pods))
    services = ranges.get(ipa.get("servicesSecondaryRangeName", "")) or str(
        free_range(20, taken, "10.0.0.0/8")
    )
    return pods, services


def max_pods_per_node(spec: dict[str, Any]) -> int:
    max_pods = int(spec.get("defaultMaxPodsConstraint", {}).get("maxPodsPerNode", 110))
    if not 8 <= max_pods <= 256:
        raise invalid(
            f'Invalid value for field "cluster.default_max_pods_constraint.max_pods_per_node": '
            f"{max_pods}. Must be between 8 and 256."
        )
    return max_pods


def control_plane_range(
    compute: ComputeService, project: Project, spec: dict[str, Any], network: dict[str, Any], private: bool
) -> str | None:
    """The control plane's /28: required for private clusters, clear of subnetworks and other clusters."""
    master = spec.get("privateClusterConfig", {}).get("masterIpv4CidrBlock")
    if private and not master:
        raise invalid(
            "master_ipv4_cidr_block (private_cluster_config.master_ipv4_cidr_block) must be set for "
            "private clusters."
        )
    if not master:
        return master
    try:
        block = ipaddress.ip_network(master, strict=True)
    except ValueError:
        raise invalid(f'Invalid master_ipv4_cidr_block "{master}": not a valid CIDR range.') from None
    if block.prefixlen != 28:
        raise invalid(f'Invalid master_ipv4_cidr_block "{master}": the range must be a /28.')
    for other, subnet_name, subnet_region in compute.ranges_in_network(project, network["selfLink"]):
        if block.overlaps(other):
            raise invalid(
                f'Invalid master_ipv4_cidr_block "{master}": it conflicts with range {other} '
                f'of subnetwork "{subnet_name}" in region {subnet_region} of network "{network["name"]}".'
            )
    for cluster in project.clusters.values():
        if (
            cluster.get("_network_link") == network["selfLink"]
            and cluster.get("_master")
            and block.overlaps(ipaddress.ip_network(cluster["_master"]))
        ):
            raise invalid(
                f'Invalid master_ipv4_cidr_block "{master}": it conflicts with the control '
                f'plane range of cluster "{cluster["name"]}".'
            )
    return master


def authorized_networks(
    spec: dict[str, Any], private: bool
) -> tuple[dict[str, Any] | None, tuple[str, ...] | None]:
    """(the requested config, its CIDRs when enabled); the modern field first, the deprecated one after."""
    config = (
        spec.get("controlPlaneEndpointsConfig", {})
        .get("ipEndpointsConfig", {})
        .get("authorizedNetworksConfig")
    ) or spec.get("masterAuthorizedNetworksConfig")
    if not (config and config.get("enabled")):
        return config, None
    cidrs = []
    for i, block in enumerate(config.get("cidrBlocks", [])):
        try:
            ipaddress.ip_network(block.get("cidrBlock", ""), strict=True)
        except ValueError:
            raise invalid(
                f"Invalid master authorized networks: cidr_blocks[{i}].cidr_block "
                f'"{block.get("cidrBlock", "")}" is not a valid CIDR range.'
            ) from None
        cidrs.append(block["cidrBlock"])
    limit = 100 if private else 50
    if len(cidrs) > limit:
        raise invalid(f"Invalid master authorized networks: at most {limit} CIDR blocks are allowed.")
    return config, tuple(cidrs)


def check_node_service_accounts(iam: Any, project: Project, pools: tuple[dict[str, Any], ...]) -> None:
    for pool in pools:
        account = pool.get("config", {}).get("serviceAccount") or "default"
        email = project.compute_default_sa if account == "default" else account
        if not iam.account_exists(email):
            raise invalid(f'Service account "{email}" does not exist.')


def boot_disk_keys(
    services: Services, project: Project, pools: tuple[dict[str, Any], ...], region: str
) -> tuple[str, ...]:
    """The node pools' boot-disk keys: each must exist in the cluster's region with a usable version."""
    for pool in pools:
        key = pool.get("config", {}).get("bootDiskKmsKey")
        if key:
            usable_key_project(services, project, key, region, "node_config.boot_disk_kms_key")
    return tuple(sorted({p.get("config", {}).get("bootDiskKmsKey") for p in pools} - {None, ""}))


def check_secrets_key(services: Services, project: Project, spec: dict[str, Any], region: str) -> None:
    """Application-layer secrets encryption: the GKE service agent must already be able to use the key."""
    encryption = spec.get("databaseEncryption", {})
    if encryption.get("state") != "ENCRYPTED":
        return
    key = encryption.get("keyName", "")
    key_project = usable_key_project(services, project, key, region, "database_encryption.key_name")
    if not services.kms.grant_effective(key_project, key, f"serviceAccount:{project.gke_agent}"):
        raise permission_denied(
            f'Cloud KMS key "{key}" cannot be used for application-layer secrets encryption: '
            "permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied for the Kubernetes Engine "
            f"service agent "
            f'"{project.gke_agent}". Grant it {ENCRYPTER} on the key.'
        )


def usable_key_project(services: Services, project: Project, key: str, region: str, field: str) -> Project:
    """The project holding `key`, once the key is well named, in the region, and has an enabled primary."""
    m = KEY_RE.match(key or "")
    if not m:
        raise invalid(
            f'Invalid {field} "{key}": expected '
            "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
        )
    if m.group(2) != region:
        raise invalid(
            f"Invalid {field} \"{key}\": the key's location {m.group(2)} must match the cluster's "
            f"region {region}."
        )
    key_project = (
        project if m.group(1) in (project.id, str(project.number)) else services.backend.project(m.group(1))
    )
    if key not in key_project.crypto_keys:
        raise invalid(f'Invalid {field}: Cloud KMS key "{key}" does not exist.')
    if not services.kms.version_usable(key_project, key):
        raise failed_precondition(f'Cloud KMS key "{key}" ({field}) has no enabled primary version.')
    return key_project
