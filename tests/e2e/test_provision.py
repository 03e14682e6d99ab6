"""provision_lab end to end against the emulator: the full lab, idempotence, resume, faults, refusals."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest

from gke_lab.errors import LabError
from gke_lab.overrides import apply_overrides
from tests.fixtures_emulator import LOCAL_NETWORK, NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEYS = f"projects/{PROJECT}/locations/us-west1/keyRings/keyring-gke/cryptoKeys"


def spec(*extra: str):
    return apply_overrides(None, [LOCAL_NETWORK, *extra])


def mutations(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["mutating"]]


def successful_creates(entries: list[dict]) -> Counter:
    """(api, path) of successful create calls, to prove nothing was created twice."""
    return Counter(
        (e["api"], e["path"], _create_id(e))
        for e in entries
        if e["mutating"]
        and e["method"] in ("POST", "GRPC")
        and 200 <= int(e["status"]) < 300
        and not e["path"].endswith((":setIamPolicy", "SetIamPolicy"))
    )


def _create_id(entry: dict) -> str:
    body = entry.get("body") or {}
    query = entry.get("query") or {}
    if isinstance(query, str):
        query = dict(re.findall(r"([^&=]+)=([^&]*)", query))
    for key in ("keyRingId", "cryptoKeyId"):
        if query.get(key):
            return str(query[key])
    if isinstance(body, dict):
        return str(body.get("name") or body.get("accountId") or (body.get("cluster") or {}).get("name") or "")
    return ""


def provision(**kw):
    from flows.provision import provision_lab

    return provision_lab(**kw)


@pytest.fixture
def new_project(emulator_factory):
    """A project as Google creates one today: APIs disabled, service agents missing, no-channel refused."""
    return emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)


def test_full_lab_provisions_verifies_and_second_run_mutates_nothing(prefect_harness, new_project):
    emu = new_project
    result = provision(spec=spec())
    assert result["verification"]["passed"] is True
    assert result["cluster"]["endpoint"].startswith("127.0.0.1:")
    assert "gke-lab kubeconfig" in result["lab_card"]
    failing = [c["id"] for c in result["audit"] if not c["passed"]]
    assert failing == [], f"CIS checks failing on the default lab: {failing}"

    entries = EmulatorAdmin(emu.url).requests()
    creates = [
        e
        for e in entries
        if e["api"] == "container"
        and e["method"] == "POST"
        and e["path"].endswith("/clusters")
        and int(e["status"]) < 300
    ]
    assert len(creates) == 1
    check_cluster_body(creates[0]["body"])
    check_new_project_requests(emu, entries, creates[0]["body"]["cluster"])

    # Key bindings name the service agents by project NUMBER.
    policies = EmulatorAdmin(emu.url).project_state()["keyIamPolicies"]
    role = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

    def members(key: str) -> list[str]:
        policy = policies[f"{KEYS}/{key}"]
        return [m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]]

    assert f"serviceAccount:service-{NUMBER}@compute-system.iam.gserviceaccount.com" in members(
        "key-gke-node"
    )
    assert f"serviceAccount:service-{NUMBER}@container-engine-robot.iam.gserviceaccount.com" in members(
        "key-gke-secret"
    )
    assert max(successful_creates(entries).values()) == 1

    # A second run over the finished lab finds everything and changes nothing.
    mark = entries[-1]["seq"]
    again = provision(spec=spec())
    assert again["verification"]["passed"] is True
    assert mutations(EmulatorAdmin(emu.url).requests(since=mark)) == []
    # The card shows the lab's real expiry (from the cluster's labels), not the second run's start.
    (live,) = EmulatorAdmin(emu.url).project_state()["clusters"]
    assert f"unix {live['resourceLabels']['gke-lab-expires']}" in again["lab_card"]


def check_new_project_requests(emu, entries: list[dict], cluster: dict) -> None:
    """What a project created today needs, as the request log shows it."""
    # Service Usage before any compute call; enable calls only for what was disabled.
    first_compute = next(e["seq"] for e in entries if e["api"] == "compute")
    usage = [e for e in entries if "/services" in e["path"] and e["api"] != "kubernetes"]
    assert usage and usage[0]["seq"] < first_compute
    enables = [e for e in usage if e["path"].endswith(":batchEnable") and int(e["status"]) < 300]
    assert enables and all(e["seq"] < first_compute for e in enables)  # a project created today
    # The version is the REGULAR channel's, from serverConfig.channels.
    from gke_lab.clients import Clients

    config = Clients.from_env().container.get_server_config(name=f"projects/{PROJECT}/locations/us-west1")
    (regular,) = [ch for ch in config.channels if ch.channel.name == "REGULAR"]
    assert cluster["initialClusterVersion"] == regular.default_version
    # echoserver:1.10 (schema 2) in the Deployment.
    deployments = [
        e
        for e in entries
        if e["api"] == "kubernetes" and e["mutating"] and e["path"].endswith("/deployments") and e["body"]
    ]
    images = {c["image"] for e in deployments for c in e["body"]["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.k8s.io/echoserver:1.10"}


def check_cluster_body(body: dict) -> None:
    """The create request against gke-api.md §4 (modernised), field by field."""
    c = body["cluster"]
    assert c["name"] == "cluster"
    assert c["network"].endswith(f"projects/{PROJECT}/global/networks/gke-network")
    assert c["subnetwork"].endswith(f"projects/{PROJECT}/regions/us-west1/subnetworks/gke-subnet")
    assert sorted(c["locations"]) == ["us-west1-a", "us-west1-b"]
    assert not c.get("masterAuth", {}).get("username")
    (pool,) = c["nodePools"]
    nc = pool["config"]
    assert int(pool["initialNodeCount"]) == 1
    assert nc["machineType"] == "e2-medium"
    assert nc["imageType"] == "COS_CONTAINERD"
    assert nc["diskType"] == "pd-standard"
    assert int(nc["diskSizeGb"]) == 100
    assert nc["bootDiskKmsKey"] == f"{KEYS}/key-gke-node"
    assert nc["serviceAccount"] == f"gke-node@{PROJECT}.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/cloud-platform" in nc["oauthScopes"]
    assert nc["preemptible"] is True
    assert nc["tags"] == ["gke-node"]
    assert nc["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert pool["autoscaling"]["enabled"] is True
    assert int(pool["autoscaling"]["maxNodeCount"]) == 2
    assert int(pool["autoscaling"].get("minNodeCount", 0)) == 0
    assert pool["management"]["autoRepair"] is True
    assert pool["management"]["autoUpgrade"] is True  # release channels require node auto-upgrade
    assert int(pool["upgradeSettings"]["maxSurge"]) == 1
    ipa = c["ipAllocationPolicy"]
    assert ipa["useIpAliases"] is True
    assert ipa["clusterSecondaryRangeName"] == "gke-cluster-pods"
    assert ipa["servicesSecondaryRangeName"] == "gke-cluster-services"
    assert int(c["defaultMaxPodsConstraint"]["maxPodsPerNode"]) == 110
    assert c["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert c["networkConfig"]["defaultEnablePrivateNodes"] is True
    ip = c["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]
    assert ip["enabled"] is True and ip["enablePublicEndpoint"] is True
    assert ip["authorizedNetworksConfig"]["enabled"] is True
    assert [b["cidrBlock"] for b in ip["authorizedNetworksConfig"]["cidrBlocks"]] == ["127.0.0.1/32"]
    assert c["networkPolicy"]["enabled"] is True
    assert c["networkPolicy"]["provider"] in (1, "CALICO")
    addons = c["addonsConfig"]
    assert not addons.get("httpLoadBalancing", {}).get("disabled", False)
    assert not addons.get("horizontalPodAutoscaling", {}).get("disabled", False)
    assert not addons.get("networkPolicyConfig", {}).get("disabled", False)
    assert addons["dnsCacheConfig"]["enabled"] is True
    window = c["maintenancePolicy"]["window"]["recurringWindow"]
    assert window["recurrence"] == "FREQ=WEEKLY;BYDAY=SA,SU"
    assert window["window"]["startTime"].startswith("2020-11-29T17:00:00")
    assert window["window"]["endTime"].startswith("2020-11-29T23:00:00")
    assert c["databaseEncryption"]["keyName"] == f"{KEYS}/key-gke-secret"
    assert c["databaseEncryption"]["state"] in (1, "ENCRYPTED")
    assert c["workloadIdentityConfig"]["workloadPool"] == f"{PROJECT}.svc.id.goog"
    assert c["shieldedNodes"]["enabled"] is True
    assert c["loggingConfig"]["componentConfig"]["enableComponents"]
    assert c["monitoringConfig"]["componentConfig"]["enableComponents"]
    assert c["releaseChannel"]["channel"] in (2, "REGULAR")
    labels = c["resourceLabels"]
    assert labels["managed-by"] == "gke-lab" and labels["gke-lab"] == "cluster"
    assert int(labels["gke-lab-expires"]) > 0
    # Upgrades held from creation until the lab expires.
    hold = c["maintenancePolicy"]["window"]["maintenanceExclusions"]["gke-lab-hold"]
    assert hold["maintenanceExclusionOptions"]["scope"] in (2, "NO_MINOR_OR_NODE_UPGRADES")
    end = datetime.fromisoformat(hold["endTime"].replace("Z", "+00:00"))
    assert int(end.timestamp()) == int(labels["gke-lab-expires"])


def test_failed_cluster_create_then_flow_retry_resumes(prefect_harness, lab_emulator):
    from flows.provision import provision_lab

    emu = lab_emulator
    EmulatorAdmin(emu.url).configure_faults(
        {
            "rules": [
                {"api": "container", "method": "POST", "path_regex": r"/clusters$", "count": 1, "status": 400}
            ]
        },
    )
    state = provision_lab.with_options(retries=1, retry_delay_seconds=0)(spec=spec(), return_state=True)
    assert state.is_completed(), state
    entries = EmulatorAdmin(emu.url).requests()
    cluster_posts = [
        e
        for e in entries
        if e["api"] == "container" and e["method"] == "POST" and e["path"].endswith("/clusters")
    ]
    assert [int(e["status"]) for e in cluster_posts] == [400, 200]
    failed_at = cluster_posts[0]["seq"]
    # The retry resumed at the cluster: no network, KMS or IAM call was made again (cached results).
    after = [e for e in entries if e["seq"] > failed_at and e["api"] in ("compute", "cloudkms", "iam")]
    assert [e for e in after if e["mutating"]] == []
    assert max(successful_creates(entries).values()) == 1


def test_ten_percent_fault_rate_succeeds_and_creates_nothing_twice(prefect_harness, emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER}, fault_rate=0.1, seed=7)
    result = provision(spec=spec())
    assert result["verification"]["passed"] is True
    entries = EmulatorAdmin(emu.url).requests()
    assert any(int(e["status"]) >= 500 or int(e["status"]) == 429 for e in entries), "no fault was injected"
    assert max(successful_creates(entries).values()) == 1


def test_vm_in_default_network_refuses_and_deletes_nothing(prefect_harness, lab_emulator):
    emu = lab_emulator
    EmulatorAdmin(emu.url).call(
        "POST",
        f"projects/{PROJECT}/zones/us-west1-a/instances",
        json={
            "name": "precious-vm",
            "networkInterfaces": [{"network": f"projects/{PROJECT}/global/networks/default"}],
        },
    )
    before = EmulatorAdmin(emu.url).project_state()
    with pytest.raises(LabError, match=r"precious-vm.*Nothing was deleted"):
        provision(spec=spec())
    after = EmulatorAdmin(emu.url).project_state()
    assert [n["name"] for n in after["networks"]] == [n["name"] for n in before["networks"]]
    assert sorted(f["name"] for f in after["firewalls"]) == sorted(f["name"] for f in before["firewalls"])
    assert [e for e in EmulatorAdmin(emu.url).requests() if e["method"] == "DELETE"] == []


def test_authorized_networks_excluding_runner_names_them(prefect_harness, lab_emulator):
    with pytest.raises(LabError, match=r"(?i)authorized network"):
        provision(spec=apply_overrides(None, ["cluster.master_authorized_networks=[{cidr: 203.0.113.7/32}]"]))


def test_private_nodes_without_cloud_nat_names_cloud_nat(prefect_harness, lab_emulator):
    with pytest.raises(LabError, match=r"(?i)cloud nat"):
        provision(spec=spec("network.cloud_nat=false"))


def test_cluster_create_waits_out_key_grant_propagation(prefect_harness, emulator_factory, monkeypatch):
    from emulator import clock

    # Make the grant take 3 s (at scale 0.01) to become effective: the create sees 403 naming the key.
    monkeypatch.setitem(clock.PROFILE, "iam.propagation", 300.0)
    emu = emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    result = provision(spec=spec())
    assert result["verification"]["passed"] is True
    posts = [
        e
        for e in EmulatorAdmin(emu.url).requests()
        if e["api"] == "container" and e["method"] == "POST" and e["path"].endswith("/clusters")
    ]
    statuses = [int(e["status"]) for e in posts]
    assert statuses[-1] == 200 and 403 in statuses, statuses


def test_create_ending_in_error_on_a_propagating_key_is_recreated_once(
    prefect_harness, emulator_factory, monkeypatch
):
    from emulator.kms import KmsService

    # The node key's grant is not yet effective when the first cluster's nodes are created: GKE accepts
    # the create and the cluster ends in ERROR with a Cloud KMS key error (propagation, not a real denial).
    effective = KmsService.grant_effective
    refused: list[str] = []

    def late_for_the_first_nodes(self, project, key_name, member):
        if "compute-system" in member and not refused:
            refused.append(key_name)
            return False
        return effective(self, project, key_name, member)

    monkeypatch.setattr(KmsService, "grant_effective", late_for_the_first_nodes)
    emu = emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    result = provision(spec=spec())
    assert refused == [f"{KEYS}/key-gke-node"]
    assert result["cluster"]["recreated"] is True
    assert result["verification"]["passed"] is True
    entries = EmulatorAdmin(emu.url).requests()
    # Refused creates (403 while the secrets key's grant propagates) are retried before GKE accepts one.
    accepted = [
        e["method"]
        for e in entries
        if e["api"] == "container" and e["mutating"] and "/clusters" in e["path"] and int(e["status"]) < 300
    ]
    assert accepted == ["POST", "DELETE", "POST"]


def test_schema_1_echo_image_fails_naming_the_image_and_containerd_s_reason(prefect_harness, new_project):
    # echoserver:1.4 is a Docker schema 1 image: containerd 2 on 1.33+ nodes refuses to pull it.
    with pytest.raises(LabError) as info:
        provision(spec=spec("echo.image=registry.k8s.io/echoserver:1.4"))
    message = str(info.value)
    assert "registry.k8s.io/echoserver:1.4" in message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message
    assert "schema 1" in message.lower() and "containerd" in message.lower()
    assert "echoserver:1.10" in message


def test_other_permission_error_on_create_fails_at_once(prefect_harness, lab_emulator):
    emu = lab_emulator
    rule = {"api": "container", "method": "POST", "path_regex": r"/clusters$", "count": 5, "status": 403}
    EmulatorAdmin(emu.url).configure_faults({"rules": [rule]})
    with pytest.raises(
        LabError, match=r"create projects/gke-detail/locations/us-west1/clusters/cluster failed"
    ):
        provision(spec=spec())
    posts = [
        e
        for e in EmulatorAdmin(emu.url).requests()
        if e["api"] == "container" and e["method"] == "POST" and e["path"].endswith("/clusters")
    ]
    assert [int(e["status"]) for e in posts] == [403]


def test_one_run_per_lab_at_a_time(prefect_harness, lab_emulator, monkeypatch):
    """While another holder has the lab's slot, a run waits and calls nothing; then it proceeds."""
    import threading

    from prefect.concurrency.sync import concurrency

    import flows.lab_lock
    from flows.common import lab_lock, lock_name

    # Observed, not timed: the waiting run has asked for the slot, been refused, and looked at the holder.
    refused = threading.Event()
    look_at_holder = flows.lab_lock._holder_is_gone

    def observed(*args, **kwargs):
        refused.set()
        return look_at_holder(*args, **kwargs)

    monkeypatch.setattr(flows.lab_lock, "_holder_is_gone", observed)
    monkeypatch.setenv(flows.lab_lock.STALE_ENV, "20")  # a refused request waits 5 s instead of 15 s
    emu = lab_emulator
    lab = spec()
    outcome: dict = {}
    with lab_lock(lab):  # creates the one-slot limit and holds it, as a running provision would
        worker = threading.Thread(target=lambda: outcome.setdefault("result", provision(spec=lab)))
        worker.start()
        assert refused.wait(120), "the second run never asked for the lab's slot"
        assert EmulatorAdmin(emu.url).requests() == [], (
            "a run touched the cloud while another held the lab's slot"
        )
        assert worker.is_alive()
    worker.join(timeout=600)
    assert outcome["result"]["verification"]["passed"] is True
    with concurrency(lock_name(lab), occupy=1, strict=True, timeout_seconds=60):
        pass  # the slot was released again


def test_never_adopts_a_same_named_resource_without_the_lab_marker(prefect_harness, lab_emulator):
    from google.cloud import compute_v1

    from gke_lab.clients import Clients
    from gke_lab.ops import wait_compute

    c = Clients.from_env()
    op = c.networks.insert_unary(
        project=PROJECT,
        network_resource=compute_v1.Network(name="gke-network", auto_create_subnetworks=False),
    )
    wait_compute(c, op, project=PROJECT, resource="gke-network")
    with pytest.raises(LabError, match=r"networks/gke-network exists but is not owned by lab 'cluster'"):
        provision(spec=spec())
    state = EmulatorAdmin(lab_emulator.url).project_state()
    assert [s["name"] for s in state["subnetworks"] if s["network"].endswith("/gke-network")] == []
    assert state["clusters"] == []
