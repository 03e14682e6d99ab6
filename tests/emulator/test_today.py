"""A project created today: APIs disabled until Service Usage enables them, service agents that appear only
when Google creates them, release channels (no channel refused for new customers), maintenance exclusions,
containerd 2 nodes, GKE leftovers that linger after a cluster delete, output-only fields, policy versions."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1, kms_v1, service_usage_v1
from kubernetes import client

from emulator.kubernetes.images import SCHEMA1_REFUSED
from emulator.latency import PROFILE
from tests.emulator.helpers import (
    ENCRYPTER,
    NODE_KEY,
    RING,
    SECRET_KEY,
    build_cluster,
    build_network,
    build_router,
    key_name,
    make_clients,
    project_number,
    setup_prerequisites,
    wait_gke,
    wait_global,
    wait_propagation,
)
from tests.emulator.test_cluster_e2e import echo_objects, kube_client, wait_for
from tests.fixtures_emulator import PROJECT, REGION, EmulatorAdmin

PARENT = f"projects/{PROJECT}/locations/{REGION}"
CLUSTER = f"{PARENT}/clusters/cluster"
LAB_SERVICES = [
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
]


def usage_client(emu) -> service_usage_v1.ServiceUsageClient:
    return service_usage_v1.ServiceUsageClient(
        client_options=ClientOptions(api_endpoint=emu.url),
        credentials=AnonymousCredentials(),
        transport="rest",
    )


def enable_lab_services(emu, project: str = PROJECT) -> None:
    op = usage_client(emu).batch_enable_services(
        request={"parent": f"projects/{project}", "service_ids": LAB_SERVICES}
    )
    op.result(timeout=30)


def today(emulator_factory, **kwargs):
    return emulator_factory(new_projects="today", services_enabled=False, **kwargs)  # as Google creates one


# ---- Service Usage and SERVICE_DISABLED ---------------------------------------------------------------
def test_every_lab_api_of_a_new_project_answers_403_service_disabled(emulator_factory):
    emu = today(emulator_factory)
    c = make_clients(emu)
    try:
        number = project_number(c)  # projects.get answers while the API is disabled
        with pytest.raises(gexc.Forbidden) as err:
            c.networks.list(project=PROJECT)
        assert err.value.reason == "SERVICE_DISABLED" and err.value.domain == "googleapis.com"
        assert err.value.metadata["service"] == "compute.googleapis.com"
        assert err.value.metadata["consumer"] == f"projects/{number}"
        assert (
            f"Compute Engine API has not been used in project {number} before or it is disabled. Enable it "
            "by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview"
            f"?project={number} then retry." in err.value.message
        )
        body = httpx.get(f"{emu.url}/compute/v1/projects/{PROJECT}/global/networks").json()["error"]
        assert body["code"] == 403 and body["status"] == "PERMISSION_DENIED"
        for call, service in [
            (lambda: list(c.kms.list_key_rings(parent=PARENT)), "cloudkms.googleapis.com"),
            (lambda: c.gke.list_clusters(parent=PARENT), "container.googleapis.com"),
            (
                lambda: c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"}),
                "cloudresourcemanager.googleapis.com",
            ),
        ]:
            with pytest.raises(gexc.Forbidden) as err:
                call()
            assert err.value.reason == "SERVICE_DISABLED" and err.value.metadata["service"] == service
        with pytest.raises(gexc.PermissionDenied, match="Identity and Access Management"):
            list(c.iam.list_service_accounts(name=f"projects/{PROJECT}"))
        # a project can always find what it may do, and enable services
        allowed = c.projects.test_iam_permissions(
            request={"resource": f"projects/{PROJECT}", "permissions": ["serviceusage.services.enable"]}
        )
        assert list(allowed.permissions) == ["serviceusage.services.enable"]
        su = usage_client(emu)
        state = su.get_service(request={"name": f"projects/{PROJECT}/services/compute.googleapis.com"}).state
        assert state == service_usage_v1.State.DISABLED
    finally:
        c.close()


def test_batch_enable_is_a_long_running_operation(emulator_factory):
    slow = today(emulator_factory, latency_scale=1.0)  # enabling takes 20 s: the operation is still running
    su = usage_client(slow)
    op = su.batch_enable_services(request={"parent": f"projects/{PROJECT}", "service_ids": LAB_SERVICES})
    assert not op.done()
    with pytest.raises(gexc.Forbidden):
        compute_v1.NetworksClient(
            client_options=ClientOptions(api_endpoint=slow.url), credentials=AnonymousCredentials()
        ).list(project=PROJECT)

    emu = today(emulator_factory)
    su = usage_client(emu)
    op = su.batch_enable_services(request={"parent": f"projects/{PROJECT}", "service_ids": LAB_SERVICES})
    done = op.result(timeout=30)
    assert sorted(s.config.name for s in done.services) == sorted(LAB_SERVICES)
    assert all(s.state == service_usage_v1.State.ENABLED for s in done.services)
    got = su.batch_get_services(
        request={
            "parent": f"projects/{PROJECT}",
            "names": [f"projects/{PROJECT}/services/{s}" for s in LAB_SERVICES],
        }
    )
    assert [s.state for s in got.services] == [service_usage_v1.State.ENABLED] * len(LAB_SERVICES)
    # already enabled: a finished no-op operation
    again = su.enable_service(request={"name": f"projects/{PROJECT}/services/compute.googleapis.com"})
    assert again.done() and again.result().service.state == service_usage_v1.State.ENABLED
    c = make_clients(emu)
    try:
        assert [n.name for n in c.networks.list(project=PROJECT)] == ["default"]
    finally:
        c.close()


def test_legacy_switches_start_projects_with_their_apis_enabled(emulator_factory):
    emu = today(emulator_factory, project_defaults={"old-project": "legacy"})
    c = make_clients(emu)
    try:
        assert [n.name for n in c.networks.list(project="old-project")] == ["default"]
        with pytest.raises(gexc.Forbidden):
            c.networks.list(project=PROJECT)
        settings = EmulatorAdmin(emu.url).project_settings(PROJECT, {"servicesEnabled": True})
        assert set(LAB_SERVICES) <= set(settings["enabledServices"]) and not settings["existingCustomer"]
        assert [n.name for n in c.networks.list(project=PROJECT)] == ["default"]
    finally:
        c.close()
    legacy = emulator_factory(new_projects="legacy")
    cl = make_clients(legacy)
    try:
        assert [n.name for n in cl.networks.list(project=PROJECT)] == ["default"]
    finally:
        cl.close()
    with pytest.raises(ValueError):
        emulator_factory(new_projects="2020")


# ---- service agents ---------------------------------------------------------------------------------
def test_service_agents_exist_only_once_google_creates_them(emulator_factory):
    emu = today(emulator_factory)
    su = usage_client(emu)
    su.batch_enable_services(
        request={
            "parent": f"projects/{PROJECT}",
            "service_ids": ["cloudkms.googleapis.com", "cloudresourcemanager.googleapis.com"],
        }
    ).result(timeout=30)
    c = make_clients(emu)
    try:
        number = project_number(c)
        c.kms.create_key_ring(parent=PARENT, key_ring_id=RING, key_ring={})
        for key in (NODE_KEY, SECRET_KEY):
            c.kms.create_crypto_key(
                parent=f"{PARENT}/keyRings/{RING}",
                crypto_key_id=key,
                crypto_key=kms_v1.CryptoKey(purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT),
            )
        compute_agent = f"service-{number}@compute-system.iam.gserviceaccount.com"
        gke_agent = f"service-{number}@container-engine-robot.iam.gserviceaccount.com"

        def grant(key: str, agent: str) -> None:
            policy = c.kms.get_iam_policy(
                request={"resource": key_name(key), "options": {"requested_policy_version": 3}}
            )
            policy.bindings.add(role=ENCRYPTER, members=[f"serviceAccount:{agent}"])
            c.kms.set_iam_policy(request={"resource": key_name(key), "policy": policy})

        with pytest.raises(gexc.BadRequest, match=f"Service account {compute_agent} does not exist"):
            grant(NODE_KEY, compute_agent)
        with pytest.raises(gexc.BadRequest, match=f"Service account {gke_agent} does not exist"):
            grant(SECRET_KEY, gke_agent)

        # generateServiceIdentity (v1beta1) creates the Compute Engine agent without enabling the API
        answer = httpx.post(
            f"{emu.url}/v1beta1/projects/{PROJECT}/services/compute.googleapis.com:generateServiceIdentity"
        ).json()
        assert answer["done"] and answer["response"]["email"] == compute_agent
        grant(NODE_KEY, compute_agent)
        with pytest.raises(gexc.Forbidden):
            c.networks.list(project=PROJECT)

        # enabling Kubernetes Engine creates its agent (and enables Compute Engine, which it needs)
        su.enable_service(request={"name": f"projects/{PROJECT}/services/container.googleapis.com"}).result(
            timeout=30
        )
        grant(SECRET_KEY, gke_agent)
        policy = c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
        roles = {b.role: list(b.members) for b in policy.bindings}
        assert roles["roles/container.serviceAgent"] == [f"serviceAccount:{gke_agent}"]
        assert roles["roles/compute.serviceAgent"] == [f"serviceAccount:{compute_agent}"]
        assert [n.name for n in c.networks.list(project=PROJECT)] == ["default"]
    finally:
        c.close()


# ---- release channels, versions, maintenance exclusions ------------------------------------------------
def _enabled_project(emulator_factory, **settings):
    emu = today(emulator_factory)
    body = {"servicesEnabled": True, **settings}
    EmulatorAdmin(emu.url).project_settings(PROJECT, body)  # raises unless the emulator took it
    return emu, make_clients(emu)


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def test_server_config_offers_todays_channels_and_versions(emulator_factory):
    emu, c = _enabled_project(emulator_factory)
    try:
        config = c.gke.get_server_config(name=PARENT)
        channels = {ch.channel.name: ch for ch in config.channels}
        assert set(channels) == {"RAPID", "REGULAR", "STABLE", "EXTENDED"}
        for ch in channels.values():
            assert ch.default_version in ch.valid_versions
            assert all(_version_tuple(v) >= (1, 33) for v in ch.valid_versions)
        assert channels["REGULAR"].default_version == "1.35.7-gke.1222000"
        assert all(_version_tuple(v) >= (1, 33) for v in config.valid_master_versions)
    finally:
        c.close()


def _pools_with_auto_upgrade(cluster: container_v1.Cluster, auto_upgrade: bool = True) -> None:
    for pool in cluster.node_pools:
        pool.management = container_v1.NodeManagement(auto_upgrade=auto_upgrade, auto_repair=True)


def _channel(name: str) -> container_v1.ReleaseChannel:
    return container_v1.ReleaseChannel(channel=container_v1.ReleaseChannel.Channel[name])


def _exclusion(
    scope: str, days: float, *, start: dt.datetime | None = None
) -> container_v1.MaintenancePolicy:
    begin = start or dt.datetime.now(dt.UTC)
    return container_v1.MaintenancePolicy(
        window=container_v1.MaintenanceWindow(
            daily_maintenance_window=container_v1.DailyMaintenanceWindow(start_time="03:00"),
            maintenance_exclusions={
                "lab-lifetime": container_v1.TimeWindow(
                    start_time=begin,
                    end_time=begin + dt.timedelta(days=days),
                    maintenance_exclusion_options=container_v1.MaintenanceExclusionOptions(
                        scope=container_v1.MaintenanceExclusionOptions.Scope[scope]
                    ),
                )
            },
        )
    )


def test_create_refuses_no_channel_for_a_new_customer_and_channel_rules(emulator_factory):
    emu, c = _enabled_project(emulator_factory)
    try:
        with pytest.raises(gexc.BadRequest, match="only allowed for existing customers"):
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())  # releaseChannel UNSPECIFIED
        regular = build_cluster(release_channel=_channel("REGULAR"))  # node auto-upgrade off
        with pytest.raises(gexc.BadRequest, match="Auto_upgrade must be true when release_channel REGULAR"):
            c.gke.create_cluster(parent=PARENT, cluster=regular)
        _pools_with_auto_upgrade(regular)
        regular.initial_cluster_version = "1.37.0-gke.1140000"  # Rapid only
        with pytest.raises(gexc.BadRequest, match="not supported in the REGULAR release channel"):
            c.gke.create_cluster(parent=PARENT, cluster=regular)
        regular.initial_cluster_version = ""
        regular.maintenance_policy = _exclusion("NO_UPGRADES", 31)
        with pytest.raises(gexc.BadRequest, match="NO_UPGRADES cannot be longer than 30 days"):
            c.gke.create_cluster(parent=PARENT, cluster=regular)
        regular.maintenance_policy = _exclusion(
            "NO_MINOR_OR_NODE_UPGRADES", 400
        )  # past 1.35's end of support
        with pytest.raises(gexc.BadRequest, match="must end by the end of support of version 1.35"):
            c.gke.create_cluster(parent=PARENT, cluster=regular)
    finally:
        c.close()
    # an existing customer may still create a cluster without a channel (the next rule, the missing
    # network, is what stops this one)
    emu, c = _enabled_project(emulator_factory, existingCustomer=True)
    try:
        with pytest.raises(gexc.ClientError) as err:
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        assert "existing customers" not in err.value.message and "gke-network" in err.value.message
    finally:
        c.close()


# ---- a whole lab on a project created today ------------------------------------------------------------
@pytest.fixture
def lab(emulator_factory):
    """A today-project: services enabled through Service Usage, then the article's prerequisites and a
    REGULAR-channel cluster with auto-upgrade and a NO_MINOR_OR_NODE_UPGRADES exclusion."""
    emu = today(emulator_factory)
    enable_lab_services(emu)
    c = make_clients(emu)
    setup_prerequisites(c)
    wait_propagation(emu)
    cluster = build_cluster(release_channel=_channel("REGULAR"))
    _pools_with_auto_upgrade(cluster)
    cluster.maintenance_policy = _exclusion("NO_MINOR_OR_NODE_UPGRADES", 30)
    wait_gke(c, c.gke.create_cluster(parent=PARENT, cluster=cluster))
    yield emu, c, c.gke.get_cluster(name=CLUSTER)
    c.close()


def _pod_waiting(core: client.CoreV1Api):
    pods = core.list_namespaced_pod("default", label_selector="app=echo-server").items
    states = [s.state.waiting for p in pods for s in (p.status.container_statuses or [])]
    if states and all(w is not None and w.reason in ("ErrImagePull", "ImagePullBackOff") for w in states):
        return states
    return None


def test_lab_on_a_today_project(lab, tmp_path, monkeypatch):
    emu, c, cluster = lab
    # GKE's leftovers linger long after the delete (100 s at this scale); the test moves the clock past it
    monkeypatch.setitem(PROFILE, "clusters.leftovers", 10_000.0)
    assert cluster.release_channel.channel == container_v1.ReleaseChannel.Channel.REGULAR
    assert cluster.current_master_version == "1.35.7-gke.1222000"  # the channel's default
    exclusion = cluster.maintenance_policy.window.maintenance_exclusions["lab-lifetime"]
    assert exclusion.maintenance_exclusion_options.scope.name == "NO_MINOR_OR_NODE_UPGRADES"

    api = kube_client(cluster, tmp_path)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        # containerd 2 refuses the schema 1 echoserver:1.4
        deployment, service = echo_objects("registry.k8s.io/echoserver:1.4")
        apps.create_namespaced_deployment("default", deployment)
        core.create_namespaced_service("default", service)
        waiting = wait_for(lambda: _pod_waiting(core), what="ErrImagePull")
        assert all(SCHEMA1_REFUSED in w.message for w in waiting)
        assert (
            "Pulling Schema 1 images have been deprecated and disabled by default since containerd v2.0"
            in (waiting[0].message)
        )
        events = core.list_namespaced_event("default").items
        assert any(SCHEMA1_REFUSED in (e.message or "") for e in events)

        # echoserver:1.10 (schema 2) runs and answers in 1.10's report format
        deployment.spec.template.spec.containers[0].image = "registry.k8s.io/echoserver:1.10"
        apps.replace_namespaced_deployment("echo-deployment", "default", deployment)

        def proxied():
            try:
                r = core.connect_get_namespaced_service_proxy_with_path(
                    "echo-service:80", "default", "probe", _preload_content=False
                )
            except client.ApiException:
                return None
            return r if r.status == 200 else None

        report = wait_for(proxied, what="echoserver 1.10").data.decode()
        for section in (
            "Hostname: echo-deployment-",
            "Pod Information:",
            "Server values:",
            "Request Information:",
            "\tclient_address=",
            "\tmethod=GET",
            "\treal path=/probe",
            "\tquery=",
            "\trequest_version=1.1",
            "\trequest_scheme=http",
            "\trequest_uri=http://",
            "Request Headers:",
            "Request Body:",
        ):
            assert section in report
        assert "CLIENT VALUES:" not in report

        lb = client.V1Service(
            metadata=client.V1ObjectMeta(name="echo-lb"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                selector={"app": "echo-server"},
                ports=[client.V1ServicePort(port=80, target_port=8080, protocol="TCP")],
            ),
        )
        core.create_namespaced_service("default", lb)
        wait_for(
            lambda: [f for f in c.firewalls.list(project=PROJECT) if f.name.startswith("k8s2-")],
            what="k8s2 rule",
        )
        core.delete_namespaced_service("echo-lb", "default")
    finally:
        api.close()

    # after the delete operation ends, GKE's rules and the peering still hold the network for a while
    wait_gke(c, c.gke.delete_cluster(name=CLUSTER))
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork="gke-subnet")
    assert err.value.reason == "resourceInUseByAnotherResource" or "already being used" in err.value.message
    assert "clusters/cluster" in err.value.message
    for router in c.routers.list(project=PROJECT, region=REGION):
        c.routers.delete_unary(project=PROJECT, region=REGION, router=router.name)
    for rule in c.firewalls.list(project=PROJECT):
        if not rule.name.startswith("gke-cluster-"):
            wait_global(c, c.firewalls.delete_unary(project=PROJECT, firewall=rule.name))
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network="gke-network")
    assert "already being used" in err.value.message and "gke-cluster-" in err.value.message
    network = c.networks.get(project=PROJECT, network="gke-network")
    assert [p.name for p in network.peerings] == [cluster.private_cluster_config.peering_name]

    later = emu.clock.now() + 200.0
    monkeypatch.setattr(emu.clock, "now", lambda: later)
    assert not [f.name for f in c.firewalls.list(project=PROJECT) if f.name.startswith("gke-cluster-")]
    assert not c.networks.get(project=PROJECT, network="gke-network").peerings
    c.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork="gke-subnet")


def test_router_region_in_the_body_is_refused(emulator_factory):
    emu, c = _enabled_project(emulator_factory)
    try:
        wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
        router = build_router()
        router.region = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/{REGION}"
        with pytest.raises(gexc.BadRequest, match="resource.region"):
            c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=router)
        c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=build_router())
    finally:
        c.close()


def test_iam_policy_reads_honour_the_requested_policy_version(emulator_factory):
    emu, c = _enabled_project(emulator_factory)
    resource = f"projects/{PROJECT}"
    try:
        policy = c.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        )
        policy.version = 3
        policy.bindings.add(
            role="roles/viewer",
            members=["user:auditor@example.com"],
            condition={"title": "lab-only", "expression": 'resource.name.startsWith("projects/_/")'},
        )
        c.projects.set_iam_policy(request={"resource": resource, "policy": policy})

        v3 = c.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        )
        assert v3.version == 3
        assert [b.condition.title for b in v3.bindings if b.role == "roles/viewer"] == ["lab-only"]

        v1 = c.projects.get_iam_policy(request={"resource": resource})
        assert v1.version == 1
        assert not any(b.role == "roles/viewer" for b in v1.bindings)
        assert any(b.role.startswith("roles/viewer_withcond_") and not b.condition.title for b in v1.bindings)

        with pytest.raises(gexc.BadRequest, match="policy version 3"):  # writing back the v1 read loses it
            c.projects.set_iam_policy(request={"resource": resource, "policy": v1})
        with pytest.raises(gexc.BadRequest, match="Invalid requested policy version"):
            c.projects.get_iam_policy(
                request={"resource": resource, "options": {"requested_policy_version": 2}}
            )
    finally:
        c.close()
