"""GKE: server config, clusters (create/get/list/delete, labels) and their operations.

A create is validated synchronously like GKE (400/403/409), then runs as a CREATE_CLUSTER operation:
GKE's firewall rules, the control-plane peering and its route appear at once; nodes are created at
NODE_CREATION_FRACTION of the profile (where the boot-disk key is used by the Compute Engine
service agent); the cluster is RUNNING with its Kubernetes endpoint at the end.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from google.cloud import container_v1

from emulator.clock import NODE_CREATION_FRACTION, rfc3339
from emulator.compute import ComputeService
from emulator.compute.common import ref_name, zones_of
from emulator.errors import (
    ApiError,
    already_exists,
    failed_precondition,
    invalid,
    not_found,
    permission_denied,
)
from emulator.messages import normalize
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Project, public

CONTAINER = "https://container.googleapis.com/v1"
CLUSTER_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
ZONE_RE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
KEY_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

CHANNELS = {
    "RAPID": ["1.34.1-gke.1829001", "1.33.5-gke.1201000"],
    "REGULAR": ["1.33.5-gke.1201000", "1.33.4-gke.1350000", "1.32.9-gke.1108000"],
    "STABLE": ["1.32.9-gke.1108000", "1.32.8-gke.1134000"],
    "EXTENDED": ["1.32.9-gke.1108000", "1.32.8-gke.1134000"],
}
VALID_MASTER_VERSIONS = [
    "1.34.1-gke.1829001",
    "1.33.5-gke.1201000",
    "1.33.4-gke.1350000",
    "1.32.9-gke.1108000",
    "1.32.8-gke.1134000",
]
VALID_NODE_VERSIONS = VALID_MASTER_VERSIONS + ["1.31.13-gke.1023000", "1.30.14-gke.1239000"]
DEFAULT_VERSION = "1.33.5-gke.1201000"
IMAGE_TYPES = ["COS_CONTAINERD", "UBUNTU_CONTAINERD", "WINDOWS_LTSC_CONTAINERD"]
DEFAULT_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
]


def server_config_json() -> dict[str, Any]:
    return {
        "defaultClusterVersion": DEFAULT_VERSION,
        "validNodeVersions": VALID_NODE_VERSIONS,
        "defaultImageType": "COS_CONTAINERD",
        "validImageTypes": IMAGE_TYPES,
        "validMasterVersions": VALID_MASTER_VERSIONS,
        "channels": [
            {"channel": name, "defaultVersion": versions[0], "validVersions": versions}
            for name, versions in CHANNELS.items()
        ],
    }


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def resolve_version(requested: str, offered: list[str]) -> str | None:
    """GKE's version aliases: "", "latest", "-", "1.33", "1.33.5" or an exact "-gke.N" version."""
    if requested in ("", "latest", "-"):
        return DEFAULT_VERSION if DEFAULT_VERSION in offered else max(offered, key=_version_key)
    if requested in offered:
        return requested
    candidates = [v for v in offered if v.startswith(requested + ".") or v.startswith(requested + "-")]
    return max(candidates, key=_version_key) if candidates else None


def label_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _check_labels(labels: dict[str, str]) -> None:
    for k, v in labels.items():
        if not LABEL_KEY_RE.match(k) or not LABEL_VALUE_RE.match(v):
            raise invalid(
                f"Invalid resource label {k}={v!r}: keys start with a lowercase letter; keys and values "
                "use only lowercase letters, digits, '_' and '-' (at most 63 characters)."
            )


def _free_range(prefixlen: int, taken: list[ipaddress.IPv4Network], pool: str) -> ipaddress.IPv4Network:
    for cand in ipaddress.ip_network(pool).subnets(new_prefix=prefixlen):
        if not any(cand.overlaps(t) for t in taken):
            return cand
    raise failed_precondition(f"No free /{prefixlen} range left in {pool} for the cluster.")


class ContainerService:
    def __init__(
        self,
        backend: Backend,
        compute: ComputeService,
        kms: Any,
        iam: Any,
        log: Callable[[dict[str, Any]], None],
        kube_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.backend = backend
        self.compute = compute
        self.kms = kms
        self.iam = iam
        self.log = log
        self.kube_factory = kube_factory

    def _kube_class(self) -> Callable[..., Any]:
        if self.kube_factory is None:
            from emulator.kubernetes import KubeCluster

            self.kube_factory = KubeCluster
        return self.kube_factory

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _path(project: Project, location: str, *parts: str) -> str:
        return "/".join(["projects", project.id, "locations", location, *parts])

    def _cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        cluster = project.clusters.get((location, name))
        if cluster is None:
            raise not_found(f"Not found: {self._path(project, location, 'clusters', name)}.")
        return cluster

    def _region(self, location: str) -> str:
        if REGION_RE.match(location):
            return location
        m = ZONE_RE.match(location)
        if not m:
            raise invalid(f'Location "{location}" is not a valid region or zone.')
        return m.group(1)

    def _busy(self, project: Project, cluster: dict[str, Any]) -> None:
        for op in project.cluster_ops.values():
            if op["_cluster"] == cluster["selfLink"] and op["status"] == "RUNNING":
                raise failed_precondition(f"Cluster is running incompatible operation {op['name']}.")

    def _operation(
        self, project: Project, location: str, cluster: dict[str, Any], op_type: str, duration: float
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = f"operation-{int(now * 1000)}-{self.backend.token_hex(8)}"
        op = {
            "name": name,
            "zone": location,
            "operationType": op_type,
            "status": "RUNNING",
            "selfLink": f"{CONTAINER}/projects/{project.number}/locations/{location}/operations/{name}",
            "targetLink": f"{CONTAINER}/projects/{project.number}/locations/{location}/clusters/"
            f"{cluster['name']}",
            "startTime": rfc3339(now),
            "location": location,
            "_cluster": cluster["selfLink"],
            "_done_at": now + duration,
        }
        project.cluster_ops[name] = op
        return op

    def _finish_op(self, op: dict[str, Any], error: ApiError | None = None, at: float | None = None) -> None:
        if op["status"] == "DONE":
            return
        op["status"] = "DONE"
        op["endTime"] = rfc3339(at or self.backend.clock.now())
        if error is not None:
            op["error"] = error.rpc_status()
            op["statusMessage"] = error.message

    # ---- reads ------------------------------------------------------------------------------
    def server_config(self, project: Project, location: str) -> dict[str, Any]:
        self._region(location)
        return server_config_json()

    def get_cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self._cluster(project, location, name))

    def list_clusters(self, project: Project, location: str) -> dict[str, Any]:
        with project.locked():
            items = [
                public(c)
                for (loc, _), c in sorted(project.clusters.items())
                if location == "-" or loc == location
            ]
        return {"clusters": items} if items else {}

    def get_operation(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            op = project.cluster_ops.get(name)
            if op is None or (location != "-" and op["location"] != location):
                raise not_found(f"Not found: {self._path(project, location, 'operations', name)}.")
            return public(op)

    def list_operations(self, project: Project, location: str) -> dict[str, Any]:
        with project.locked():
            items = [
                public(o)
                for o in project.cluster_ops.values()
                if location == "-" or o["location"] == location
            ]
        return {"operations": items} if items else {}

    # ---- create -----------------------------------------------------------------------------
    def create_cluster(self, project: Project, location: str, body: Any) -> dict[str, Any]:
        spec = normalize(container_v1.Cluster, (body or {}).get("cluster") or {})
        region = self._region(location)
        name = spec.get("name", "")
        if not CLUSTER_NAME_RE.match(name):
            raise invalid(
                f'Invalid value for field "cluster.name": "{name}". Cluster names must start with a '
                "lowercase letter, contain only lowercase letters, digits and hyphens, end with a letter "
                "or digit and be at most 40 characters long."
            )
        with project.locked():
            if (location, name) in project.clusters:
                raise already_exists(f"Already exists: {self._path(project, location, 'clusters', name)}.")
            plan = self._validate(project, location, region, spec)
            return self._start_create(project, location, region, spec, plan)

    def _validate(self, project: Project, location: str, region: str, spec: dict[str, Any]) -> dict[str, Any]:
        plan: dict[str, Any] = {}
        # node pools (or the legacy top-level node config)
        pools = spec.get("nodePools") or []
        if not pools:
            if spec.get("initialNodeCount"):
                pools = [
                    {
                        "name": "default-pool",
                        "initialNodeCount": spec["initialNodeCount"],
                        "config": spec.get("nodeConfig", {}),
                    }
                ]
            else:
                raise invalid(
                    "Cluster.initial_node_count must be greater than zero, or node_pools must be set."
                )
        for i, pool in enumerate(pools):
            if not pool.get("name"):
                raise invalid(f'Invalid value for field "cluster.node_pools[{i}].name": "".')
            if int(pool.get("initialNodeCount", 0)) <= 0 and not pool.get("autoscaling", {}).get("enabled"):
                raise invalid(f'Node pool "{pool["name"]}": initial_node_count must be greater than zero.')
        plan["pools"] = pools
        # zones
        zones = spec.get("locations") or ([location] if ZONE_RE.match(location) else zones_of(region))
        for z in zones:
            m = ZONE_RE.match(z)
            if not m or m.group(1) != region:
                raise invalid(
                    f'Invalid value for field "cluster.locations": zone "{z}" is not in region "{region}".'
                )
        plan["zones"] = sorted(zones)
        # version and release channel
        channel = (
            spec["releaseChannel"].get("channel", "UNSPECIFIED") if "releaseChannel" in spec else "REGULAR"
        )
        requested = spec.get("initialClusterVersion", "")
        offered = CHANNELS[channel] if channel in CHANNELS else VALID_MASTER_VERSIONS
        version = resolve_version(requested, VALID_MASTER_VERSIONS)
        if version is None:
            raise invalid(f'Master version "{requested}" is unsupported.')
        if channel in CHANNELS:
            version = resolve_version(requested, offered)
            if version is None:
                raise invalid(
                    f'Version "{requested}" is not supported in the {channel} release channel; valid '
                    f"versions are {', '.join(offered)}."
                )
            for pool in pools:
                mgmt = pool.get("management")
                auto_upgrade = True if mgmt is None else bool(mgmt.get("autoUpgrade", False))
                if not auto_upgrade:
                    raise invalid(
                        f"Auto_upgrade must be true when release_channel {channel} is set (node pool "
                        f'"{pool["name"]}").'
                    )
        plan["version"], plan["channel"] = version, channel
        for pool in pools:
            image = pool.get("config", {}).get("imageType", "COS_CONTAINERD")
            if image not in IMAGE_TYPES:
                raise invalid(
                    f'Node pool "{pool["name"]}": image type "{image}" is not supported in version '
                    f"{version}; supported image types: {', '.join(IMAGE_TYPES)}."
                )
        # network and subnetwork
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
                    f'Network "{net["name"]}" is a custom mode network in region {region}: specify a '
                    "subnetwork."
                )
        if sub.get("_pending"):
            raise failed_precondition(f'Subnetwork "{sub["name"]}" is not ready.')
        plan["net"], plan["sub"] = net, sub
        # IP allocation
        ipa = spec.get("ipAllocationPolicy", {})
        ranges = {r["rangeName"]: r["ipCidrRange"] for r in sub.get("secondaryIpRanges", [])}
        private = bool(
            spec.get("networkConfig", {}).get("defaultEnablePrivateNodes")
            or spec.get("privateClusterConfig", {}).get("enablePrivateNodes")
        )
        if private and not ipa.get("useIpAliases"):
            raise invalid(
                "IP aliases must be enabled (ip_allocation_policy.use_ip_aliases) for private clusters."
            )
        for field, label in (
            ("clusterSecondaryRangeName", "cluster_secondary_range_name"),
            ("servicesSecondaryRangeName", "services_secondary_range_name"),
        ):
            rn = ipa.get(field)
            if rn and rn not in ranges:
                raise invalid(
                    f'Secondary range "{rn}" (ip_allocation_policy.{label}) does not exist in '
                    f'network "{net["name"]}", subnetwork "{sub["name"]}".'
                )
        taken = [n for n, *_ in self.compute.ranges_in_network(project, net["selfLink"])]
        pods = ranges.get(ipa.get("clusterSecondaryRangeName", "")) or str(
            _free_range(14, taken, "10.0.0.0/8")
        )
        taken.append(ipaddress.ip_network(pods))
        services = ranges.get(ipa.get("servicesSecondaryRangeName", "")) or str(
            _free_range(20, taken, "10.0.0.0/8")
        )
        plan["pods"], plan["services"], plan["private"] = pods, services, private
        max_pods = int(spec.get("defaultMaxPodsConstraint", {}).get("maxPodsPerNode", 110))
        if not 8 <= max_pods <= 256:
            raise invalid(
                f'Invalid value for field "cluster.default_max_pods_constraint.max_pods_per_node": '
                f"{max_pods}. Must be between 8 and 256."
            )
        plan["max_pods"] = max_pods
        # control plane range
        master = spec.get("privateClusterConfig", {}).get("masterIpv4CidrBlock")
        if private and not master:
            raise invalid(
                "master_ipv4_cidr_block (private_cluster_config.master_ipv4_cidr_block) must be set for "
                "private clusters."
            )
        if master:
            try:
                mnet = ipaddress.ip_network(master, strict=True)
            except ValueError:
                raise invalid(f'Invalid master_ipv4_cidr_block "{master}": not a valid CIDR range.') from None
            if mnet.prefixlen != 28:
                raise invalid(f'Invalid master_ipv4_cidr_block "{master}": the range must be a /28.')
            for other, oname, oregion in self.compute.ranges_in_network(project, net["selfLink"]):
                if mnet.overlaps(other):
                    raise invalid(
                        f'Invalid master_ipv4_cidr_block "{master}": it conflicts with range {other} '
                        f'of subnetwork "{oname}" in region {oregion} of network "{net["name"]}".'
                    )
            for c in project.clusters.values():
                if (
                    c.get("_network_link") == net["selfLink"]
                    and c.get("_master")
                    and mnet.overlaps(ipaddress.ip_network(c["_master"]))
                ):
                    raise invalid(
                        f'Invalid master_ipv4_cidr_block "{master}": it conflicts with the control '
                        f'plane range of cluster "{c["name"]}".'
                    )
        plan["master"] = master
        # authorized networks (modern field first, the deprecated one as fallback)
        man = (
            spec.get("controlPlaneEndpointsConfig", {})
            .get("ipEndpointsConfig", {})
            .get("authorizedNetworksConfig")
        ) or spec.get("masterAuthorizedNetworksConfig")
        cidrs: list[str] | None = None
        if man and man.get("enabled"):
            cidrs = []
            for i, block in enumerate(man.get("cidrBlocks", [])):
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
        plan["authorized"], plan["man"] = cidrs, man
        # node service accounts
        for pool in pools:
            sa = pool.get("config", {}).get("serviceAccount") or "default"
            email = project.compute_default_sa if sa == "default" else sa
            if not self.iam.account_exists(email):
                raise invalid(f'Service account "{email}" does not exist.')
        # CMEK: keys must exist in the cluster's region; the GKE agent must be able to use the secrets key
        for pool in pools:
            boot = pool.get("config", {}).get("bootDiskKmsKey")
            if boot:
                self._kms_key(project, boot, region, "node_config.boot_disk_kms_key")
        plan["boot_keys"] = sorted({p.get("config", {}).get("bootDiskKmsKey") for p in pools} - {None, ""})
        enc = spec.get("databaseEncryption", {})
        if enc.get("state") == "ENCRYPTED":
            key = enc.get("keyName", "")
            key_project = self._kms_key(project, key, region, "database_encryption.key_name")
            if not self.kms.grant_effective(key_project, key, f"serviceAccount:{project.gke_agent}"):
                raise permission_denied(
                    f'Cloud KMS key "{key}" cannot be used for application-layer secrets encryption: '
                    "permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied for the Kubernetes Engine "
                    f"service agent "
                    f'"{project.gke_agent}". Grant it {ENCRYPTER} on the key.'
                )
        return plan

    def _kms_key(self, project: Project, key: str, region: str, field: str) -> Project:
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
            project if m.group(1) in (project.id, str(project.number)) else self.backend.project(m.group(1))
        )
        if key not in key_project.crypto_keys:
            raise invalid(f'Invalid {field}: Cloud KMS key "{key}" does not exist.')
        if not self.kms.version_usable(key_project, key):
            raise failed_precondition(f'Cloud KMS key "{key}" ({field}) has no enabled primary version.')
        return key_project

    def _start_create(
        self, project: Project, location: str, region: str, spec: dict[str, Any], plan: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = spec["name"]
        chash = hashlib.sha256(f"{project.id}/{location}/{name}/{now}".encode()).hexdigest()[:8]
        net, sub = plan["net"], plan["sub"]
        node_tag = f"gke-{name}-{chash}-node"
        nodes = []
        base = ipaddress.ip_network(sub["ipCidrRange"]).network_address
        used = len(project.instances)
        cluster = dict(spec)
        pools_out = []
        for pool in plan["pools"]:
            count = int(pool.get("initialNodeCount", 0)) or int(
                pool.get("autoscaling", {}).get("minNodeCount", 0)
            )
            config = dict(pool.get("config", {}))
            config.setdefault("machineType", "e2-medium")
            config.setdefault("diskSizeGb", 100)
            config.setdefault("diskType", "pd-balanced")
            config.setdefault("imageType", "COS_CONTAINERD")
            config.setdefault("serviceAccount", "default")
            config.setdefault("oauthScopes", DEFAULT_SCOPES)
            config.setdefault("metadata", {"disable-legacy-endpoints": "true"})
            pool_hash = hashlib.sha256(f"{chash}/{pool['name']}".encode()).hexdigest()[:8]
            pool_nodes = []
            for zone in plan["zones"]:
                for i in range(count):
                    suffix = hashlib.sha256(f"{pool_hash}/{zone}/{i}".encode()).hexdigest()[:4]
                    node = {
                        "name": f"gke-{name[:14]}-{pool['name'][:12]}-{pool_hash}-{suffix}",
                        "zone": zone,
                        "internal_ip": str(base + 2 + used + len(nodes)),
                        "pool": pool["name"],
                        "tags": list(config.get("tags", [])) + [node_tag],
                    }
                    nodes.append(node)
                    pool_nodes.append(node)
            out = dict(pool)
            out.update(
                {
                    "config": config,
                    "initialNodeCount": count,
                    "locations": plan["zones"],
                    "version": plan["version"],
                    "status": "PROVISIONING",
                    "podIpv4CidrSize": 24 if plan["max_pods"] > 64 else 25,
                    "maxPodsConstraint": pool.get(
                        "maxPodsConstraint", {"maxPodsPerNode": str(plan["max_pods"])}
                    ),
                    "networkConfig": {
                        "podRange": spec.get("ipAllocationPolicy", {}).get("clusterSecondaryRangeName", ""),
                        "podIpv4CidrBlock": plan["pods"],
                    },
                    "selfLink": f"{CONTAINER}/projects/{project.id}/locations/{location}/clusters/{name}/"
                    "nodePools/"
                    f"{pool['name']}",
                    "instanceGroupUrls": [
                        f"https://www.googleapis.com/compute/v1/projects/{project.id}/zones/{z}/instanceGroupManagers/"
                        f"gke-{name[:14]}-{pool['name'][:12]}-{pool_hash}-grp"
                        for z in plan["zones"]
                    ],
                    "management": pool.get("management", {"autoUpgrade": True, "autoRepair": True}),
                    "_count": count * len(plan["zones"]),
                }
            )
            pools_out.append(out)
        man = plan["man"]
        labels = spec.get("resourceLabels", {})
        _check_labels(labels)
        cluster.update(
            {
                "nodePools": [{k: v for k, v in p.items() if not k.startswith("_")} for p in pools_out],
                "locations": plan["zones"],
                "zone": location,
                "location": location,
                "network": net["name"],
                "subnetwork": sub["name"],
                "networkConfig": {
                    **spec.get("networkConfig", {}),
                    "network": f"projects/{project.id}/global/networks/{net['name']}",
                    "subnetwork": f"projects/{project.id}/regions/{region}/subnetworks/{sub['name']}",
                },
                "status": "PROVISIONING",
                "selfLink": f"{CONTAINER}/projects/{project.id}/locations/{location}/clusters/{name}",
                "createTime": rfc3339(now),
                "initialClusterVersion": plan["version"],
                "currentMasterVersion": plan["version"],
                "currentNodeVersion": plan["version"],
                "releaseChannel": {"channel": plan["channel"]},
                "clusterIpv4Cidr": plan["pods"],
                "servicesIpv4Cidr": plan["services"],
                "ipAllocationPolicy": {
                    **spec.get("ipAllocationPolicy", {}),
                    "clusterIpv4Cidr": plan["pods"],
                    "clusterIpv4CidrBlock": plan["pods"],
                    "servicesIpv4Cidr": plan["services"],
                    "servicesIpv4CidrBlock": plan["services"],
                    "stackType": "IPV4",
                },
                "defaultMaxPodsConstraint": {"maxPodsPerNode": str(plan["max_pods"])},
                "labelFingerprint": label_fingerprint(labels),
                "id": hashlib.sha256(f"{chash}/id".encode()).hexdigest()[:32],
                "currentNodeCount": 0,
                "etag": chash,
                "_subnet_link": sub["selfLink"],
                "_network_link": net["selfLink"],
                "_hash": chash,
                "_nodes": nodes,
                "_master": plan["master"],
                "_node_tag": node_tag,
            }
        )
        if man is not None:
            cluster["masterAuthorizedNetworksConfig"] = man
            ip_ep = cluster.setdefault("controlPlaneEndpointsConfig", {}).setdefault("ipEndpointsConfig", {})
            ip_ep["authorizedNetworksConfig"] = man
            ip_ep.setdefault("enabled", True)
        enc = cluster.get("databaseEncryption")
        if enc and enc.get("state") == "ENCRYPTED":
            enc["currentState"] = "CURRENT_STATE_ENCRYPTED"
        if plan["private"]:
            pcc = cluster.setdefault("privateClusterConfig", {})
            pcc["enablePrivateNodes"] = True
            cluster["networkConfig"]["defaultEnablePrivateNodes"] = True
            master = ipaddress.ip_network(plan["master"])
            pcc["privateEndpoint"] = str(master.network_address + 2)
            pcc["peeringName"] = f"gke-n{hashlib.sha256(chash.encode()).hexdigest()[:18]}-{chash[:4]}-peer"
        project.clusters[(location, name)] = cluster
        self._add_vpc_side_effects(project, cluster, plan)
        op = self._operation(
            project, location, cluster, "CREATE_CLUSTER", self.backend.clock.duration("clusters.create")
        )
        # the control plane boots in the background (TLS keys, server thread) while the operation runs
        boot = _KubeBoot(lambda: self._make_kube(project, location, region, cluster, plan))
        cluster["_kube_boot"] = boot
        duration = op["_done_at"] - now
        project.schedule(
            now + duration * NODE_CREATION_FRACTION,
            lambda: self._create_nodes(project, location, name, op, pools_out, plan),
        )
        project.schedule(op["_done_at"], lambda: self._running(project, location, name, op, pools_out))
        return public(op)

    def _make_kube(
        self, project: Project, location: str, region: str, cluster: dict[str, Any], plan: dict[str, Any]
    ) -> Any:
        net_link = cluster["_network_link"]
        name = cluster["name"]

        def log(entry: dict[str, Any]) -> None:
            self.log({**entry, "api": "kubernetes", "project": project.id})

        return self._kube_class()(
            project=project.id,
            location=location,
            name=name,
            nodes=[
                {"name": n["name"], "zone": n["zone"], "internal_ip": n["internal_ip"]}
                for n in cluster["_nodes"]
            ],
            pod_cidr=plan["pods"],
            service_cidr=plan["services"],
            authorized_cidrs=plan["authorized"],
            private_nodes=plan["private"],
            has_egress=lambda: (not plan["private"]) or self.compute.has_nat(project, net_link, region),
            delay=lambda what: self.backend.clock.duration(what),
            log=log,
            on_load_balancer=lambda ns, svc, ports: self._load_balancer(
                project, location, name, ns, svc, ports
            ),
            on_load_balancer_deleted=lambda ns, svc: self._load_balancer_deleted(
                project, location, name, ns, svc
            ),
            version=plan["version"],
            master_ipv4_cidr=plan["master"],
            machine_type=plan["pools"][0].get("config", {}).get("machineType", "e2-medium"),
            node_pool=plan["pools"][0]["name"],
        )

    def _add_vpc_side_effects(self, project: Project, cluster: dict[str, Any], plan: dict[str, Any]) -> None:
        """GKE's own firewall rules, and for private clusters the control-plane peering and its route."""
        name, chash, net = cluster["name"], cluster["_hash"], plan["net"]
        tag = cluster["_node_tag"]
        prefix = f"gke-{name}-{chash}"
        desc = ""
        self.compute.add_firewall_now(
            project,
            {
                "name": f"{prefix}-all",
                "network": net["selfLink"],
                "sourceRanges": [plan["pods"]],
                "targetTags": [tag],
                "priority": 1000,
                "description": desc,
                "allowed": [{"IPProtocol": p} for p in ("tcp", "udp", "icmp", "esp", "ah", "sctp")],
            },
        )
        self.compute.add_firewall_now(
            project,
            {
                "name": f"{prefix}-vms",
                "network": net["selfLink"],
                "sourceRanges": [plan["sub"]["ipCidrRange"]],
                "targetTags": [tag],
                "priority": 1000,
                "description": desc,
                "allowed": [
                    {"IPProtocol": "icmp"},
                    {"IPProtocol": "tcp", "ports": ["1-65535"]},
                    {"IPProtocol": "udp", "ports": ["1-65535"]},
                ],
            },
        )
        if plan["private"]:
            self.compute.add_firewall_now(
                project,
                {
                    "name": f"{prefix}-master",
                    "network": net["selfLink"],
                    "sourceRanges": [plan["master"]],
                    "targetTags": [tag],
                    "priority": 1000,
                    "description": desc,
                    "allowed": [{"IPProtocol": "tcp", "ports": ["10250", "443"]}],
                },
            )
            peering = cluster["privateClusterConfig"]["peeringName"]
            net.setdefault("peerings", []).append(
                {
                    "name": peering,
                    "network": f"https://www.googleapis.com/compute/v1/projects/gke-prod-{region_tag(chash)}/global/"
                    f"networks/{peering[:-5]}-net",
                    "state": "ACTIVE",
                    "stateDetails": "[2025-01-01T00:00:00.000-00:00]: Connected.",
                    "autoCreateRoutes": True,
                    "exportCustomRoutes": False,
                    "importCustomRoutes": False,
                    "exchangeSubnetRoutes": True,
                    "exportSubnetRoutesWithPublicIp": True,
                    "importSubnetRoutesWithPublicIp": False,
                    "stackType": "IPV4_ONLY",
                }
            )
            self.compute.add_route(
                project,
                {
                    "name": f"peering-route-{hashlib.sha256(peering.encode()).hexdigest()[:16]}",
                    "network": net["selfLink"],
                    "destRange": plan["master"],
                    "priority": 0,
                    "nextHopPeering": peering,
                    "description": "Auto generated route via peering [" + peering + "].",
                    "_peering_of": peering,
                },
                self.backend.clock.now(),
            )

    def _create_nodes(
        self,
        project: Project,
        location: str,
        name: str,
        op: dict[str, Any],
        pools: list[dict[str, Any]],
        plan: dict[str, Any],
    ) -> None:
        cluster = project.clusters.get((location, name))
        if cluster is None or cluster.get("status") != "PROVISIONING":
            return
        for key in plan["boot_keys"]:
            m = KEY_RE.match(key)
            key_project = (
                project
                if m and m.group(1) in (project.id, str(project.number))
                else self.backend.find_project(m.group(1) if m else "")
            )
            if key_project is None or not self.kms.grant_effective(
                key_project, key, f"serviceAccount:{project.compute_agent}"
            ):
                message = (
                    f"Google Compute Engine: Cloud KMS error when using key {key}: Permission "
                    f"'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{key}' "
                    "(or it may not exist) "
                    f'for the Compute Engine service agent "{project.compute_agent}".'
                )
                error = ApiError(403, message, status="PERMISSION_DENIED")
                cluster["status"] = "ERROR"
                cluster["statusMessage"] = message
                cluster["conditions"] = [
                    {"code": "CLOUD_KMS_KEY_ERROR", "message": message, "canonicalCode": "PERMISSION_DENIED"}
                ]
                for pool in cluster["nodePools"]:
                    pool["status"] = "ERROR"
                    pool["statusMessage"] = message
                self._finish_op(op, error, project.event_time)
                self._stop_kube(project, location, name)
                return
        region = self._region(location)
        for node in cluster["_nodes"]:
            inst = self.compute.add_instance(
                project,
                node["zone"],
                {
                    "name": node["name"],
                    "machineType": "e2-medium",
                    "networkInterfaces": [
                        {"network": cluster["_network_link"], "subnetwork": cluster["_subnet_link"]}
                    ],
                    "tags": {"items": node["tags"]},
                    "labels": {
                        "goog-gke-node": "",
                        "goog-k8s-cluster-name": name,
                        "goog-k8s-cluster-location": location,
                        "goog-k8s-node-pool-name": node["pool"],
                    },
                },
                check=False,
            )
            inst["networkInterfaces"][0]["networkIP"] = node["internal_ip"]
            inst["_cluster"] = cluster["selfLink"]
        del region

    def _running(
        self, project: Project, location: str, name: str, op: dict[str, Any], pools: list[dict[str, Any]]
    ) -> None:
        cluster = project.clusters.get((location, name))
        if cluster is None or cluster.get("status") != "PROVISIONING":
            return
        boot = cluster.pop("_kube_boot", None)
        kube = boot.result() if boot is not None else None
        if kube is None:
            error = ApiError(500, f"Internal error: the control plane failed to start: {boot and boot.error}")
            cluster["status"] = "ERROR"
            cluster["statusMessage"] = error.message
            self._finish_op(op, error, project.event_time)
            return
        project.kube[(location, name)] = kube
        cluster["endpoint"] = kube.endpoint
        cluster.setdefault("masterAuth", {})["clusterCaCertificate"] = kube.ca_certificate_b64
        if cluster.get("privateClusterConfig") is not None:
            cluster["privateClusterConfig"]["publicEndpoint"] = kube.endpoint.rsplit(":", 1)[0]
        cluster["status"] = "RUNNING"
        total = 0
        for pool, spec in zip(cluster["nodePools"], pools, strict=True):
            pool["status"] = "RUNNING"
            total += spec["_count"]
        cluster["currentNodeCount"] = total
        self._finish_op(op, at=project.event_time)

    # ---- load balancers (called from the cluster's Kubernetes API threads) --------------------
    @staticmethod
    def lb_rule_name(project: Project, location: str, cluster: str, namespace: str, service: str) -> str:
        digest = hashlib.sha256(
            f"{project.id}/{location}/{cluster}/{namespace}/{service}".encode()
        ).hexdigest()
        return f"k8s-fw-a{digest[:31]}"

    def _load_balancer(
        self,
        project: Project,
        location: str,
        cluster_name: str,
        namespace: str,
        service: str,
        ports: list[dict[str, Any]],
    ) -> None:
        with project.locked():
            cluster = project.clusters.get((location, cluster_name))
            if cluster is None:
                return
            rule = self.lb_rule_name(project, location, cluster_name, namespace, service)
            allowed: dict[str, list[str]] = {}
            for p in ports:
                allowed.setdefault(str(p.get("protocol", "TCP")).lower(), []).append(str(p.get("port")))
            body = {
                "name": rule,
                "network": cluster["_network_link"],
                "sourceRanges": ["0.0.0.0/0"],
                "targetTags": [cluster["_node_tag"]],
                "allowed": [{"IPProtocol": proto, "ports": ps} for proto, ps in allowed.items()],
                "description": json.dumps({"kubernetes.io/service-name": f"{namespace}/{service}"}),
            }
            project.firewalls.pop(rule, None)
            self.compute.add_firewall_now(project, body)

    def _load_balancer_deleted(
        self, project: Project, location: str, cluster_name: str, namespace: str, service: str
    ) -> None:
        with project.locked():
            project.firewalls.pop(
                self.lb_rule_name(project, location, cluster_name, namespace, service), None
            )

    # ---- delete / labels --------------------------------------------------------------------
    def delete_cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            cluster = self._cluster(project, location, name)
            self._busy(project, cluster)
            cluster["status"] = "STOPPING"
            op = self._operation(
                project, location, cluster, "DELETE_CLUSTER", self.backend.clock.duration("clusters.delete")
            )

            def gone() -> None:
                self._remove(project, location, name)
                self._finish_op(op, at=project.event_time)

            project.schedule(op["_done_at"], gone)
            return public(op)

    def _remove(self, project: Project, location: str, name: str) -> None:
        cluster = project.clusters.pop((location, name), None)
        if cluster is None:
            return
        prefix = f"gke-{name}-{cluster['_hash']}-"
        for fw in [n for n in project.firewalls if n.startswith(prefix)]:
            del project.firewalls[fw]
        peering = (cluster.get("privateClusterConfig") or {}).get("peeringName")
        if peering:
            net = project.networks.get(ref_name(cluster["_network_link"], "networks"))
            if net is not None:
                net["peerings"] = [p for p in net.get("peerings", []) if p["name"] != peering]
                if not net["peerings"]:
                    del net["peerings"]
            for rname in [n for n, r in project.routes.items() if r.get("_peering_of") == peering]:
                del project.routes[rname]
        for key in [k for k, i in project.instances.items() if i.get("_cluster") == cluster["selfLink"]]:
            del project.instances[key]
        self._stop_kube(project, location, name)

    def _stop_kube(self, project: Project, location: str, name: str) -> None:
        kube = project.kube.pop((location, name), None)
        cluster = project.clusters.get((location, name))
        boot = cluster.pop("_kube_boot", None) if cluster is not None else None
        if boot is not None:
            threading.Thread(target=lambda: _safe_stop(boot.result()), daemon=True).start()
        if kube is not None:
            # never stop a server while holding the project lock: its threads may be waiting for it
            threading.Thread(target=_safe_stop, args=(kube,), daemon=True).start()

    def set_resource_labels(self, project: Project, location: str, name: str, body: Any) -> dict[str, Any]:
        body = body or {}
        labels = body.get("resourceLabels") or {}
        _check_labels(labels)
        with project.locked():
            cluster = self._cluster(project, location, name)
            fingerprint = body.get("labelFingerprint", "")
            if fingerprint and fingerprint != cluster.get("labelFingerprint"):
                raise failed_precondition(
                    "Labels could not be set due to fingerprint mismatch: the cluster's label fingerprint "
                    f"is "
                    f'"{cluster.get("labelFingerprint")}", the request has "{fingerprint}".'
                )
            self._busy(project, cluster)
            op = self._operation(
                project, location, cluster, "SET_LABELS", self.backend.clock.duration("clusters.update")
            )

            def apply() -> None:
                cluster["resourceLabels"] = dict(labels)
                cluster["labelFingerprint"] = label_fingerprint(labels)
                self._finish_op(op, at=project.event_time)

            project.schedule(op["_done_at"], apply)
            return public(op)

    def routes(self) -> ServiceRoutes:
        return ServiceRoutes(
            api="container",
            prefix="/v1/projects/{project}/locations/{location}",
            routes=(
                Route("GET", "/serverConfig", self.server_config),
                Route("POST", "/clusters", self.create_cluster),
                Route("GET", "/clusters", self.list_clusters),
                Route("GET", "/clusters/{name}", self.get_cluster),
                Route("DELETE", "/clusters/{name}", self.delete_cluster),
                Route("POST", "/clusters/{name}:setResourceLabels", self.set_resource_labels),
                Route("GET", "/operations", self.list_operations),
                Route("GET", "/operations/{name}", self.get_operation),
            ),
        )

    def kube_state(self, project: Project) -> dict[str, Any]:
        out = {}
        for (_, name), kube in list(project.kube.items()):
            try:
                out[name] = kube.to_state()
            except Exception as exc:  # a cluster still starting has no state yet
                out[name] = {"error": str(exc)}
        return out

    def stop_all(self, project: Project) -> None:
        for key in list(project.kube):
            self._stop_kube(project, *key)


def region_tag(chash: str) -> str:
    return f"{int(chash, 16) % 10_000:04d}"


class _KubeBoot:
    """Builds and starts a cluster's Kubernetes API server on its own thread."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.kube: Any = None
        self.error: BaseException | None = None
        self._make = make
        self._thread = threading.Thread(target=self._run, daemon=True, name="kube-boot")
        self._thread.start()

    def _run(self) -> None:
        try:
            kube = self._make()
            kube.start()
            self.kube = kube
        except Exception as exc:  # reported through the CREATE_CLUSTER operation
            self.error = exc

    def result(self, timeout: float = 60.0) -> Any:
        self._thread.join(timeout)
        return self.kube


def _safe_stop(kube: Any) -> None:
    if kube is None:
        return
    try:
        kube.stop()
    except Exception:  # stopping a half-started server must not crash the emulator
        pass
