"""`LabSpec`: the one description of a lab (flow parameter, YAML file, saved blueprint, chat overrides).

Its default value is the environment of the source article, modernised where 2020 values no longer work
(COS_CONTAINERD, no basic auth, integrity monitoring with secure boot, no release channel because
auto-upgrade is off). All validation lives in the model so every entry point refuses identically; errors
carry the dotted field path and say what is accepted.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gke_lab import naming, regions, yamlsafe
from gke_lab.maintenance import RECURRENCE_ACCEPTED, recurrence_problem
from gke_lab.validation import cross_problems

# --------------------------------------------------------------------------------------------------
# Errors


class SpecError(ValueError):
    """A spec that cannot be used; `problems` lists (dotted field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("invalid lab spec:\n" + "\n".join(f"  {p}: {m}" for p, m in problems))


def _problem(problem: str, accepted: str) -> PydanticCustomError:
    return PydanticCustomError(
        "lab_spec", "{problem} (accepted: {accepted})", {"problem": problem, "accepted": accepted}
    )


def dotted(loc: tuple[Any, ...]) -> str:
    """('cluster', 'tags', 0) -> 'cluster.tags[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(spec)"


def problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        msg = e["msg"]
        if "(accepted:" not in msg:
            hint = _accepted_hint(e["type"], tuple(e["loc"]))
            msg = f"{msg} (accepted: {hint})" if hint else msg
        out.append((dotted(tuple(e["loc"])), msg))
    return out


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _accepted_hint(kind: str, loc: tuple[Any, ...]) -> str | None:
    """What a field accepts, for pydantic's own errors (ours already say it)."""
    model: type[BaseModel] | None = LabSpec
    annotation: Any = None
    info = None
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation, info = (args[0] if args else None), None
        else:
            if model is None:
                return None
            if part not in model.model_fields:
                return "the fields " + ", ".join(model.model_fields) if depth == len(loc) - 1 else None
            info = model.model_fields[part]
            annotation = info.annotation
        model = _unwrap_model(annotation)
    if annotation is bool:
        return "true or false"
    if info is not None and annotation in (int, float):
        bounds = {type(m).__name__: m for m in info.metadata}
        lo = getattr(bounds.get("Ge"), "ge", None)
        hi = getattr(bounds.get("Le"), "le", None)
        noun = "an integer" if annotation is int else "a number"
        if lo is not None and hi is not None:
            return f"{noun} from {lo} to {hi}"
        return noun
    if model is not None and kind in ("model_type", "dict_type"):
        return "a mapping with the fields " + ", ".join(model.model_fields)
    if typing.get_origin(annotation) is list and kind == "list_type":
        return "a list"
    return None


def format_errors(exc: ValidationError | SpecError) -> list[str]:
    """One line per problem: `path: message (accepted: ...)`."""
    problems = exc.problems if isinstance(exc, SpecError) else problems_of(exc)
    return [f"{path}: {message}" for path, message in problems]


def _detail(loc: tuple[Any, ...], problem: str, accepted: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=_problem(problem, accepted), loc=loc, input=value)


def _redetail(error: Any) -> InitErrorDetails:
    """An error of a failed validation, re-usable in a new ValidationError with the same message."""
    if error["type"] == "lab_spec":
        kind: Any = PydanticCustomError("lab_spec", "{problem} (accepted: {accepted})", error["ctx"])
    else:
        kind = PydanticCustomError(error["type"], "{msg}", {"msg": error["msg"]})
    return InitErrorDetails(type=kind, loc=tuple(error["loc"]), input=error.get("input"))


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """The document with the default spec's values under it (for cross-field rules on partial input)."""
    base = LabSpec.model_construct().model_dump(mode="json")

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            return {**a, **{k: merge(a.get(k), v) for k, v in b.items()}}
        return b

    return cast(dict[str, Any], merge(base, data))


# --------------------------------------------------------------------------------------------------
# Field-level checks (reported per field by pydantic, all at once)

# A year of TTL at most: expiries feed the reaper's dates, and a lab nobody renews should not outlive it.
MAX_TTL_HOURS = 24 * 365

_RFC1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def _rfc1035(max_len: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_len or not _RFC1035.fullmatch(value):
            raise _problem(
                f"{value!r} is not a valid name",
                f"1-{max_len} characters: lowercase letters, digits and '-', starting with a letter and "
                "not ending with '-' (RFC 1035)",
            )
        return value

    return check


def _check_cidr(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise _problem(
            f"{value!r} is not an IPv4 CIDR range ({exc})", "a network address like 10.0.0.0/20"
        ) from None
    return str(net)


def _check_project_id(value: str) -> str:
    if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", value):
        raise _problem(
            f"{value!r} is not a valid project ID",
            "6-30 characters: lowercase letters, digits and '-', starting with a letter",
        )
    return value


def _check_account_id(value: str) -> str:
    if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", value):
        raise _problem(
            f"{value!r} is not a valid service account ID",
            "6-30 characters: lowercase letters, digits and '-', starting with a letter",
        )
    return value


def _check_kms_id(value: str) -> str:
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,63}", value):
        raise _problem(
            f"{value!r} is not a valid Cloud KMS ID", "1-63 characters: letters, digits, '_' and '-'"
        )
    return value


def _check_role(value: str) -> str:
    if not re.fullmatch(
        r"(roles/[A-Za-z0-9_.]+|(projects|organizations)/[a-z0-9-]+/roles/[A-Za-z0-9_.]+)", value
    ):
        raise _problem(f"{value!r} is not an IAM role", "roles/NAME or projects/ID/roles/NAME")
    return value


_VERSION = re.compile(r"latest|[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3}(-gke\.[0-9]{1,12})?)?")


def _check_version(value: str | None) -> str | None:
    if value is not None and not _VERSION.fullmatch(value):
        raise _problem(
            f"{value!r} is not a GKE version",
            "null (the server's default), 'latest', MAJOR.MINOR, MAJOR.MINOR.PATCH or "
            "MAJOR.MINOR.PATCH-gke.N, e.g. 1.30.5-gke.1014001",
        )
    return value


def _check_machine_type(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", value):
        raise _problem(f"{value!r} is not a machine type", "a Compute Engine machine type such as e2-medium")
    return value


def _check_image(value: str) -> str:
    if not re.fullmatch(
        r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-zA-Z0-9._-]+)+(:[\w][\w.-]{0,127})?"
        r"(@sha256:[0-9a-f]{64})?",
        value,
    ):
        raise _problem(
            f"{value!r} is not a container image reference", "REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]"
        )
    return value


# Maintenance windows far from now cannot be planned (and a year near 9999 overflows date arithmetic).
WINDOW_YEARS = (2000, 2100)


def _check_rfc3339(value: str) -> str:
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value:
        raise _problem(f"{value!r} is not an RFC 3339 time", "a time with zone like 2020-11-29T17:00:00Z")
    lo, hi = WINDOW_YEARS
    if not lo <= parsed.year <= hi:
        raise _problem(f"{value!r} is in the year {parsed.year}", f"a time in the years {lo} to {hi}")
    return value


def _time_text(value: Any) -> Any:
    """YAML turns unquoted 2020-11-29T17:00:00Z into a datetime; keep the RFC 3339 text instead."""
    from datetime import datetime

    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    return value


def _check_recurrence(value: str) -> str:
    from dateutil.rrule import rrulestr

    problem = recurrence_problem(value)
    if problem is None:
        try:
            rrulestr(value.removeprefix("RRULE:"))
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"{value!r} is not an RFC 5545 recurrence ({exc})"
    if problem is not None:
        raise _problem(problem, RECURRENCE_ACCEPTED)
    return value


def _check_pool(value: str | None) -> str | None:
    from gke_lab.pool_spec import POOL_NAME  # the pool module's rule; it imports nothing of the spec's

    if value is not None and not POOL_NAME.fullmatch(value):
        raise _problem(
            f"{value!r} is not a pool name",
            "null (no pool), or 1-20 characters: lowercase letters, digits and '-', starting with a letter, "
            "not ending with '-'",
        )
    return value


def _check_display_name(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _problem(f"{value!r} contains control characters", "printable text of at most 63 characters")
    return value


Name63 = Annotated[str, AfterValidator(_rfc1035(63))]
Name40 = Annotated[str, AfterValidator(_rfc1035(40))]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
KmsId = Annotated[str, AfterValidator(_check_kms_id)]

RoutingMode = Literal["GLOBAL", "REGIONAL"]
ImageType = Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"]
DiskType = Literal["pd-standard", "pd-balanced", "pd-ssd"]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
# Maintenance exclusion scopes GKE accepts on a channel cluster (maintenance-windows-and-exclusions).
UpgradeHold = Literal["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"]
Addon = Literal[
    "HorizontalPodAutoscaling",
    "HttpLoadBalancing",
    "GcePersistentDiskCsiDriver",
    "GcpFilestoreCsiDriver",
    "GcsFuseCsiDriver",
    "ConfigConnector",
]
Region = Literal[regions.REGIONS]  # type: ignore[valid-type]

_STRICT = ConfigDict(extra="forbid")

# --------------------------------------------------------------------------------------------------
# The model


class RangeSpec(BaseModel):
    model_config = _STRICT

    name: Name63 = Field(title="Name", description="Range name (RFC 1035, at most 63 characters).")
    cidr: Cidr = Field(title="CIDR", description="IPv4 range in CIDR notation, e.g. 10.128.0.0/20.")


class NetworkSpec(BaseModel):
    model_config = _STRICT

    name: Name63 = Field(
        "gke-network", title="VPC name", description="Custom-mode VPC network created for the lab."
    )
    routing_mode: RoutingMode = Field(
        "GLOBAL", title="Routing mode", description="Dynamic routing mode of the VPC (BGP routing mode)."
    )
    subnet: RangeSpec = Field(
        default=RangeSpec(name="gke-subnet", cidr="10.128.0.0/20"),
        title="Subnet",
        description="Subnet for the nodes (primary range); prefix /8 to /29.",
    )
    pods_range: RangeSpec = Field(
        default=RangeSpec(name="gke-cluster-pods", cidr="100.64.0.0/14"),
        title="Pod range",
        description="Secondary range of the subnet for Pod IPs (VPC-native cluster).",
    )
    services_range: RangeSpec = Field(
        default=RangeSpec(name="gke-cluster-services", cidr="100.68.0.0/20"),
        title="Service range",
        description="Secondary range of the subnet for Service (ClusterIP) IPs.",
    )
    cloud_nat: StrictBool = Field(
        True,
        title="Cloud NAT",
        description="Create a Cloud Router with Cloud NAT so private nodes can pull public images.",
    )
    router: Name63 = Field(
        "gke-router", title="Router name", description="Cloud Router carrying the Cloud NAT."
    )
    nat: Name63 = Field("gke-nat", title="NAT name", description="Cloud NAT configuration on the router.")


class KmsSpec(BaseModel):
    model_config = _STRICT

    keyring: KmsId = Field(
        "keyring-gke", title="Key ring", description="Cloud KMS key ring (reused if it exists)."
    )
    node_key: KmsId = Field(
        "key-gke-node", title="Node disk key", description="CryptoKey encrypting the node boot disks (CMEK)."
    )
    secrets_key: KmsId = Field(
        "key-gke-secret",
        title="Secrets key",
        description="CryptoKey for application-layer encryption of Kubernetes Secrets in etcd.",
    )
    location: str | None = Field(
        None,
        title="Key location",
        description="Cloud KMS location of the key ring; null = the lab's region (it must equal the region).",
    )


class NodeServiceAccountSpec(BaseModel):
    model_config = _STRICT

    name: Annotated[str, AfterValidator(_check_account_id)] = Field(
        "gke-node", title="Account ID", description="Least-privilege service account the nodes run as."
    )
    roles: list[Annotated[str, AfterValidator(_check_role)]] = Field(
        default=[
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
            "roles/monitoring.viewer",
        ],
        title="Project roles",
        description="Project roles granted to the node service account (least-privilege roles only, "
        "unless allow_privileged_roles).",
    )
    allow_privileged_roles: StrictBool = Field(
        False,
        title="Allow privileged roles",
        description="Permit roles outside the least-privilege node allowlist (owner, editor, IAM admin...).",
    )


class AutoscalingSpec(BaseModel):
    model_config = _STRICT

    min: StrictInt = Field(0, ge=0, le=1000, title="Minimum per zone", description="Minimum nodes per zone.")
    max: StrictInt = Field(
        2, ge=1, le=1000, title="Maximum per zone", description="Maximum nodes per zone (>= 1)."
    )


class AuthorizedNetwork(BaseModel):
    model_config = _STRICT

    cidr: Cidr = Field(title="CIDR", description="Client range allowed to reach the control plane.")
    name: Annotated[str, AfterValidator(_check_display_name)] = Field(
        "", max_length=63, title="Display name", description="Label for this range."
    )


class MaintenanceWindow(BaseModel):
    model_config = _STRICT

    start: Annotated[str, BeforeValidator(_time_text), AfterValidator(_check_rfc3339)] = Field(
        "2020-11-29T17:00:00Z",
        title="Start",
        description="First window start, RFC 3339 (e.g. 2020-11-29T17:00:00Z).",
    )
    end: Annotated[str, BeforeValidator(_time_text), AfterValidator(_check_rfc3339)] = Field(
        "2020-11-29T23:00:00Z", title="End", description="First window end, RFC 3339; after start."
    )
    recurrence: Annotated[str, AfterValidator(_check_recurrence)] = Field(
        "FREQ=WEEKLY;BYDAY=SA,SU",
        title="Recurrence",
        description="RFC 5545 RRULE; GKE needs at least 48 h of windows in any 32 days.",
    )


class ClusterSpec(BaseModel):
    model_config = _STRICT

    name: Name40 = Field(
        "cluster", title="Cluster name", description="GKE cluster name (RFC 1035, <= 40 chars)."
    )
    version: Annotated[str | None, AfterValidator(_check_version)] = Field(
        None,
        title="Version",
        description="Initial GKE version; null = the location's default; a pinned one must be offered.",
    )
    release_channel: ReleaseChannel | None = Field(
        "REGULAR",
        title="Release channel",
        description="GKE release channel; null (no channel) only with legacy_no_channel (gone 2027-06-14).",
    )
    legacy_no_channel: StrictBool = Field(
        False,
        title="Legacy no channel",
        description="Opt-in for release_channel null: existing customers only; GKE removes it on 2027-06-14.",
    )
    upgrade_hold: UpgradeHold | None = Field(
        "NO_MINOR_OR_NODE_UPGRADES",
        title="Upgrade hold",
        description="Maintenance exclusion scope held from creation until the lab expires; null = none.",
    )
    node_locations: list[str] = Field(
        default=["us-west1-a", "us-west1-b"],
        title="Node zones",
        description="Zones of the region that run nodes (regional cluster).",
    )
    machine_type: Annotated[str, AfterValidator(_check_machine_type)] = Field(
        "e2-medium", title="Machine type", description="Compute Engine machine type of the nodes."
    )
    image_type: ImageType = Field(
        "COS_CONTAINERD", title="Image type", description="Node OS image (containerd)."
    )
    disk_type: DiskType = Field("pd-standard", title="Disk type", description="Boot disk type of the nodes.")
    disk_size_gb: StrictInt = Field(
        100, ge=10, le=65536, title="Disk size (GB)", description="Boot disk size per node."
    )
    preemptible: StrictBool = Field(
        True, title="Preemptible", description="Use preemptible VMs (cheap, short-lived)."
    )
    num_nodes: StrictInt = Field(
        1, ge=0, le=1000, title="Nodes per zone", description="Initial node count per zone."
    )
    autoscaling: AutoscalingSpec = Field(
        default=AutoscalingSpec(),
        title="Autoscaling",
        description="Cluster autoscaler bounds, per zone.",
    )
    max_pods_per_node: StrictInt = Field(
        110, ge=8, le=256, title="Max pods per node", description="Sets the per-node Pod CIDR size (8..256)."
    )
    master_ipv4_cidr: Cidr = Field(
        "172.16.0.0/28",
        title="Control plane CIDR",
        description="Private /28 range for the control plane's VPC peering.",
    )
    master_authorized_networks: list[AuthorizedNetwork] = Field(
        default=[AuthorizedNetwork(cidr="203.0.113.7/32", name="operator")],
        title="Authorized networks",
        description="Client ranges allowed to reach the public control-plane endpoint (at most 50).",
    )
    allow_public_control_plane: StrictBool = Field(
        False, title="Allow 0.0.0.0/0", description="Permit 0.0.0.0/0 among the authorized networks."
    )
    network_policy: StrictBool = Field(
        True, title="Network policy", description="Enforce NetworkPolicy (Calico)."
    )
    workload_identity: StrictBool = Field(
        True, title="Workload Identity", description="Enable Workload Identity (<project>.svc.id.goog)."
    )
    shielded_nodes: StrictBool = Field(True, title="Shielded nodes", description="Enable Shielded GKE Nodes.")
    secure_boot: StrictBool = Field(
        True, title="Secure boot", description="Shielded VM secure boot on the nodes."
    )
    integrity_monitoring: StrictBool = Field(
        True, title="Integrity monitoring", description="Shielded VM integrity monitoring on the nodes."
    )
    node_local_dns: StrictBool = Field(
        True, title="NodeLocal DNSCache", description="Enable the NodeLocalDNS addon."
    )
    addons: list[Addon] = Field(
        default=["HorizontalPodAutoscaling", "HttpLoadBalancing"],
        title="Addons",
        description="Addons to enable; all others are disabled (the Kubernetes dashboard always is).",
    )
    auto_upgrade: StrictBool = Field(
        True,
        title="Auto-upgrade",
        description="Node auto-upgrade; channels require it (held by upgrade_hold).",
    )
    auto_repair: StrictBool = Field(True, title="Auto-repair", description="Node auto-repair.")
    max_surge: StrictInt = Field(
        1, ge=0, le=100, title="Max surge", description="Extra nodes during upgrades."
    )
    max_unavailable: StrictInt = Field(
        0, ge=0, le=100, title="Max unavailable", description="Nodes that may be unavailable during upgrades."
    )
    maintenance_window: MaintenanceWindow = Field(
        default=MaintenanceWindow(),
        title="Maintenance window",
        description="Recurring maintenance window (RFC 3339 times, RFC 5545 recurrence).",
    )
    tags: list[Name63] = Field(
        default=["gke-node"], title="Network tags", description="Network tags on the nodes."
    )


class EchoSpec(BaseModel):
    model_config = _STRICT

    namespace: Name63 = Field("default", title="Namespace", description="Namespace of the echo application.")
    image: Annotated[str, AfterValidator(_check_image)] = Field(
        # 1.4 is a Docker schema 1 image that containerd 2 (GKE 1.33+ nodes) refuses to pull.
        "registry.k8s.io/echoserver:1.10",
        title="Image",
        description="Echo server image (private nodes need Cloud NAT for non-Google registries).",
    )
    replicas: StrictInt = Field(
        2, ge=1, le=10, title="Replicas", description="Echo Deployment replicas (1..10)."
    )


class LabSpec(BaseModel):
    """A hardened, private, CMEK-encrypted regional GKE lab."""

    model_config = ConfigDict(extra="forbid", title="LabSpec")

    project_id: Annotated[str, AfterValidator(_check_project_id)] = Field(
        "gke-detail", title="Project ID", description="Google Cloud project that hosts the lab."
    )
    region: Region = Field("us-west1", title="Region", description="Region of the network, keys and cluster.")
    lab: Name63 = Field(
        "cluster", title="Lab name", description="Lab name: ownership label on everything the lab creates."
    )
    ttl_hours: StrictFloat = Field(
        8,
        ge=0,
        le=MAX_TTL_HOURS,
        allow_inf_nan=False,
        title="TTL (hours)",
        description="Expiry stamped on the lab; 0 = never expires.",
    )
    pool: Annotated[str | None, AfterValidator(_check_pool)] = Field(
        None,
        title="Pool",
        description="The lab pool this lab belongs to (its cluster carries the gke-lab-pool label); "
        "null = an ordinary lab.",
    )
    delete_default_network: StrictBool = Field(
        True,
        title="Delete default network",
        description="Delete the project's default network (only when nothing but its own rules uses it).",
    )
    network: NetworkSpec = Field(default=NetworkSpec(), title="Network", description="VPC, subnet, NAT.")
    kms: KmsSpec = Field(default=KmsSpec(), title="KMS", description="Customer-managed encryption keys.")
    node_service_account: NodeServiceAccountSpec = Field(
        default=NodeServiceAccountSpec(),
        title="Node service account",
        description="The nodes' own least-privilege service account.",
    )
    cluster: ClusterSpec = Field(default=ClusterSpec(), title="Cluster", description="The GKE cluster.")
    echo: EchoSpec = Field(default=EchoSpec(), title="Echo app", description="Verification workload.")

    @model_validator(mode="wrap")
    @classmethod
    def _all_rules(cls, data: Any, handler: Any) -> LabSpec:
        # Field checks first (pydantic collects them all); then the cross-field rules over the document,
        # also when some fields failed, so one refusal lists every problem that can be seen.
        try:
            spec: LabSpec = handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            failed = [tuple(e["loc"]) for e in exc.errors()]
            extra = [
                p
                for p in cross_problems(_with_defaults(data))
                if not any(p[0][: len(loc)] == loc or loc[: len(p[0])] == p[0] for loc in failed)
            ]
            if not extra:
                raise
            details = [_redetail(e) for e in exc.errors()] + [_detail(*p) for p in extra]
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        problems = cross_problems(spec.model_dump(mode="json"))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, [_detail(*p) for p in problems])
        return spec

    @model_validator(mode="before")
    @classmethod
    def _lab_names(cls, data: Any) -> Any:
        # Declared after _all_rules so it runs first: every entry point (CLI, UI form, REST, schedules,
        # chat) gets the lab's own resource names here, before any rule sees them (gke_lab/naming.py).
        return naming.with_lab_names(data, cls)

    # ---------------------------------------------------------------- derived names

    @property
    def kms_location(self) -> str:
        return self.kms.location or self.region

    @property
    def node_sa_email(self) -> str:
        return f"{self.node_service_account.name}@{self.project_id}.iam.gserviceaccount.com"

    @property
    def node_sa_member(self) -> str:
        return f"serviceAccount:{self.node_sa_email}"

    @property
    def node_sa_resource(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.node_sa_email}"

    @property
    def keyring_parent(self) -> str:
        return f"projects/{self.project_id}/locations/{self.kms_location}"

    @property
    def keyring_name(self) -> str:
        return f"{self.keyring_parent}/keyRings/{self.kms.keyring}"

    def key_id(self, which: Literal["node", "secrets"]) -> str:
        if which in ("node", "node_key"):
            return self.kms.node_key
        if which in ("secrets", "secret", "secrets_key"):
            return self.kms.secrets_key
        raise ValueError(f"unknown key {which!r}; accepted: node, secrets")

    def key_name(self, which: Literal["node", "secrets"]) -> str:
        """Full CryptoKey resource name, e.g. projects/p/locations/r/keyRings/k/cryptoKeys/key-gke-node."""
        return f"{self.keyring_name}/cryptoKeys/{self.key_id(which)}"

    @property
    def cluster_parent(self) -> str:
        return f"projects/{self.project_id}/locations/{self.region}"

    @property
    def cluster_name(self) -> str:
        return f"{self.cluster_parent}/clusters/{self.cluster.name}"

    @property
    def network_path(self) -> str:
        return f"projects/{self.project_id}/global/networks/{self.network.name}"

    @property
    def subnet_path(self) -> str:
        return f"projects/{self.project_id}/regions/{self.region}/subnetworks/{self.network.subnet.name}"

    @property
    def network_self_link(self) -> str:
        return f"https://www.googleapis.com/compute/v1/{self.network_path}"

    @property
    def subnet_self_link(self) -> str:
        return f"https://www.googleapis.com/compute/v1/{self.subnet_path}"

    @property
    def workload_pool(self) -> str:
        return f"{self.project_id}.svc.id.goog"

    @property
    def concurrency_key(self) -> str:
        from gke_lab.identity import LabIdentity  # the identity module reads specs: import here

        return LabIdentity.from_spec(self).lock_name

    @property
    def kube_context(self) -> str:
        return f"gke_{self.project_id}_{self.region}_{self.cluster.name}"

    # ---------------------------------------------------------------- YAML

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> LabSpec:
        """Load from YAML text or a file path; raises SpecError naming each bad field."""
        return cls.from_data(_read_yaml(text_or_path))

    @classmethod
    def from_data(cls, data: Any) -> LabSpec:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SpecError([("(spec)", f"expected a mapping of fields, got {type(data).__name__}")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(problems_of(exc)) from exc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, default_flow_style=False)


def _read_yaml(text_or_path: str | Path) -> Any:
    """The document of a spec file or text: regular files only, bounded, YAML 1.2, no duplicate keys."""
    if isinstance(text_or_path, Path) or (
        isinstance(text_or_path, str)
        and "\n" not in text_or_path
        and text_or_path.endswith((".yaml", ".yml"))
    ):
        try:
            text = yamlsafe.read_text(Path(text_or_path))
        except yamlsafe.UnsafeYamlError as exc:
            raise SpecError([("(file)", exc.message)]) from None
    else:
        text = str(text_or_path)
    try:
        return yamlsafe.loads(text)
    except yamlsafe.UnsafeYamlError as exc:
        raise SpecError([(exc.where or "(file)", exc.message)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([("(file)", f"not valid YAML: {exc}")]) from None


def read_yaml_document(text_or_path: str | Path) -> Any:
    """The document of a spec file (a Path) or YAML text, read by the hostile-input rules above."""
    return _read_yaml(text_or_path)
