"""Invalid specs are refused before any cloud call, each problem naming its field path."""

import pytest
from pydantic import ValidationError

from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError, format_errors

MW = "cluster.maintenance_window"

CASES = [
    # (overrides, field path named in the refusal, a fragment of the message)
    (["project_id=GKE_Detail"], "project_id", "project ID"),
    (["region=mars-north1"], "region", "us-west1"),
    (["lab=Lab_1"], "lab", "RFC 1035"),
    (["ttl_hours=-1"], "ttl_hours", "greater than or equal to 0"),
    (["network.name=-bad"], "network.name", "RFC 1035"),
    (["network.name=" + "a" * 64], "network.name", "1-63 characters"),
    (["network.routing_mode=LOCAL"], "network.routing_mode", "GLOBAL"),
    (["network.subnet.cidr=10.128.0.0/33"], "network.subnet.cidr", "CIDR"),
    (["network.subnet.cidr=10.128.0.1/20"], "network.subnet.cidr", "network address"),
    (["network.subnet.cidr=not-a-cidr"], "network.subnet.cidr", "CIDR"),
    (["network.subnet.cidr=10.128.0.0/30"], "network.subnet.cidr", "/8 to /29"),
    (["network.subnet.cidr=10.0.0.0/7"], "network.subnet.cidr", "/8 to /29"),
    (["network.pods_range.cidr=10.128.0.0/14"], "network.pods_range.cidr", "overlaps network.subnet.cidr"),
    (["network.services_range.cidr=100.64.0.0/20"], "network.services_range.cidr", "overlaps"),
    (["network.pods_range.cidr=100.64.0.0/25"], "network.pods_range.cidr", "one node"),
    (["network.services_range.cidr=100.68.0.0/28"], "network.services_range.cidr", "/16 to /27"),
    (["network.services_range.name=gke-cluster-pods"], "network.services_range.name", "used twice"),
    (["network.pods_range.name=Pods"], "network.pods_range.name", "RFC 1035"),
    (["kms.keyring=key ring"], "kms.keyring", "Cloud KMS"),
    (["kms.secrets_key=key-gke-node"], "kms.secrets_key", "different"),
    (["kms.location=us-east1"], "kms.location", "us-west1"),
    (["node_service_account.name=gke"], "node_service_account.name", "6-30"),
    (["node_service_account.roles=[logging.logWriter]"], "node_service_account.roles[0]", "roles/NAME"),
    (["cluster.name=" + "c" * 41], "cluster.name", "1-40 characters"),
    (["cluster.name=Cluster"], "cluster.name", "RFC 1035"),
    (["cluster.version=v1.30"], "cluster.version", "MAJOR.MINOR"),
    (["cluster.release_channel=BETA"], "cluster.release_channel", "REGULAR"),
    (
        ["cluster.release_channel=REGULAR", "cluster.auto_upgrade=false"],
        "cluster.auto_upgrade",
        "release channel",
    ),
    (["cluster.release_channel=null"], "cluster.release_channel", "legacy_no_channel"),
    (["cluster.node_locations=[us-east1-b]"], "cluster.node_locations[0]", "us-west1-a"),
    (["cluster.node_locations=[us-west1-a, us-west1-a]"], "cluster.node_locations[1]", "twice"),
    (["cluster.node_locations=[]"], "cluster.node_locations", "one or more"),
    (["cluster.image_type=COS"], "cluster.image_type", "COS_CONTAINERD"),
    (["cluster.disk_type=pd-fast"], "cluster.disk_type", "pd-standard"),
    (["cluster.disk_size_gb=5"], "cluster.disk_size_gb", "greater than or equal to 10"),
    (["cluster.machine_type=E2 medium"], "cluster.machine_type", "machine type"),
    (["cluster.max_pods_per_node=7"], "cluster.max_pods_per_node", "8"),
    (["cluster.max_pods_per_node=257"], "cluster.max_pods_per_node", "256"),
    (["cluster.autoscaling.min=3"], "cluster.autoscaling.min", "exceeds maximum"),
    (
        ["cluster.autoscaling.max=0", "cluster.num_nodes=0"],
        "cluster.autoscaling.max",
        "greater than or equal to 1",
    ),
    (["cluster.num_nodes=3"], "cluster.num_nodes", "0 to 2"),
    (["cluster.master_ipv4_cidr=172.16.0.0/29"], "cluster.master_ipv4_cidr", "exactly a /28"),
    (["cluster.master_ipv4_cidr=8.8.8.0/28"], "cluster.master_ipv4_cidr", "private"),
    (["cluster.master_ipv4_cidr=10.128.0.0/28"], "cluster.master_ipv4_cidr", "overlaps network.subnet.cidr"),
    (
        ["cluster.master_authorized_networks=[{cidr: 0.0.0.0/0}]"],
        "cluster.master_authorized_networks[0].cidr",
        "internet",
    ),
    (
        ["cluster.master_authorized_networks=[{cidr: 300.1.1.1/32}]"],
        "cluster.master_authorized_networks[0].cidr",
        "CIDR",
    ),
    (
        ["cluster.master_authorized_networks=[{name: x}]"],
        "cluster.master_authorized_networks[0].cidr",
        "required",
    ),
    (
        [
            "cluster.master_authorized_networks=["
            + ", ".join(f"{{cidr: 10.0.{i}.0/24}}" for i in range(51))
            + "]"
        ],
        "cluster.master_authorized_networks",
        "at most 50",
    ),
    (["cluster.addons=[Dashboard]"], "cluster.addons[0]", "HttpLoadBalancing"),
    (["cluster.addons=[HttpLoadBalancing, HttpLoadBalancing]"], "cluster.addons", "duplicate"),
    (["cluster.tags=[Gke_Node]"], "cluster.tags[0]", "RFC 1035"),
    (["cluster.max_surge=0"], "cluster.max_surge", "at least 1"),
    (["cluster.integrity_monitoring=false"], "cluster.integrity_monitoring", "together"),
    ([f"{MW}.start=tomorrow"], f"{MW}.start", "RFC 3339"),
    ([f"{MW}.start='2020-11-29T17:00:00'"], f"{MW}.start", "zone"),
    ([f"{MW}.end=2020-11-29T16:00:00Z"], f"{MW}.end", "not after start"),
    ([f"{MW}.recurrence=EVERY SUNDAY"], f"{MW}.recurrence", "RFC 5545"),
    ([f"{MW}.end=2020-11-29T21:00:00Z", f"{MW}.recurrence=FREQ=WEEKLY;BYDAY=SU"], f"{MW}.recurrence", "48 h"),
    ([f"{MW}.end=2020-11-29T20:00:00Z", f"{MW}.recurrence=FREQ=DAILY"], f"{MW}.recurrence", "48 h"),
    (["echo.replicas=0"], "echo.replicas", "greater than or equal to 1"),
    (["echo.replicas=11"], "echo.replicas", "less than or equal to 10"),
    (["echo.image=not an image"], "echo.image", "REGISTRY/REPOSITORY"),
    (["echo.namespace=Default"], "echo.namespace", "RFC 1035"),
    (["delete_default_network=perhaps"], "delete_default_network", "boolean"),
    (["cluster.unknown_flag=1"], "cluster.unknown_flag", "unknown field"),
]


@pytest.mark.parametrize("overrides,path,fragment", CASES, ids=[c[1] + ":" + c[0][-1][:40] for c in CASES])
def test_invalid_spec_names_the_field(overrides, path, fragment):
    with pytest.raises(SpecError) as info:
        apply_overrides(None, overrides)
    problems = dict(info.value.problems)
    assert path in problems, info.value.problems
    assert fragment in problems[path], problems[path]


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_several_errors_reported_together():
    with pytest.raises(SpecError) as info:
        apply_overrides(
            None,
            [
                "cluster.name=BAD",  # field check
                "echo.replicas=99",  # field check
                "cluster.master_ipv4_cidr=10.128.0.0/24",  # cross rules: not /28, overlaps subnet
                "kms.location=europe-west1",  # cross rule
                "network.services_range.name=gke-cluster-pods",  # cross rule
            ],
        )
    paths = [p for p, _ in info.value.problems]
    for expected in (
        "cluster.name",
        "echo.replicas",
        "cluster.master_ipv4_cidr",
        "kms.location",
        "network.services_range.name",
    ):
        assert expected in paths
    assert paths.count("cluster.master_ipv4_cidr") == 2


def test_model_validation_error_has_dotted_locs_and_accepted_values():
    # Prefect validates flow parameters through the model: same refusal, loc = field path.
    with pytest.raises(ValidationError) as info:
        LabSpec.model_validate({"cluster": {"master_ipv4_cidr": "172.16.0.0/29"}})
    (error,) = info.value.errors()
    assert error["loc"] == ("cluster", "master_ipv4_cidr")
    assert format_errors(info.value) == [
        "cluster.master_ipv4_cidr: 172.16.0.0/29 is a /29 (accepted: exactly a /28)"
    ]


def test_public_control_plane_needs_explicit_consent():
    spec = apply_overrides(
        None,
        [
            "cluster.master_authorized_networks=[{cidr: 0.0.0.0/0, name: all}]",
            "cluster.allow_public_control_plane=true",
        ],
    )
    assert spec.cluster.master_authorized_networks[0].cidr == "0.0.0.0/0"


def test_release_channel_with_auto_upgrade_is_fine():
    spec = apply_overrides(None, ["cluster.release_channel=STABLE", "cluster.auto_upgrade=true"])
    assert spec.cluster.release_channel == "STABLE"


@pytest.mark.parametrize("version", ["latest", "1.30", "1.30.5", "1.30.5-gke.1014001"])
def test_version_formats(version):
    assert apply_overrides(None, [f"cluster.version={version}"]).cluster.version == version


def test_pydantic_errors_also_say_what_is_accepted():
    with pytest.raises(SpecError) as info:
        apply_overrides(None, ["echo.replicas=0", "cluster.preemptible=maybe", "network=3"])
    problems = dict(info.value.problems)
    assert problems["echo.replicas"].endswith("(accepted: an integer from 1 to 10)")
    assert problems["cluster.preemptible"].endswith("(accepted: true or false)")
    assert "routing_mode" in problems["network"]


def test_no_channel_only_behind_the_legacy_opt_in():
    spec = apply_overrides(
        None,
        ["cluster.release_channel=null", "cluster.legacy_no_channel=true", "cluster.auto_upgrade=false"],
    )
    assert spec.cluster.release_channel is None and spec.cluster.legacy_no_channel is True
