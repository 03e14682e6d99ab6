"""Named identities and what they may do: GKE's IAM (clusters.get needs container.clusters.get) and, inside
each cluster, IAM then Kubernetes RBAC, refused in Kubernetes' shape; the product's own caller still works."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import container_v1
from google.oauth2.credentials import Credentials
from kubernetes import client
from kubernetes.client.rest import ApiException

from emulator.server import Emulator
from tests.emulator.helpers import (
    REGION,
    add_binding,
    build_cluster,
    make_clients,
    setup_prerequisites,
    wait_gke,
    wait_propagation,
)
from tests.fixtures_emulator import EmulatorAdmin

LAB_A, LAB_B = "pool-lab-a", "pool-lab-b"
ALICE, BOB = "alice@example.com", "bob@example.com"
VIEWER = "roles/container.clusterViewer"


def cluster_name(project: str) -> str:
    return f"projects/{project}/locations/{REGION}/clusters/cluster"


@pytest.fixture(scope="module")
def labs():
    """Two projects with one RUNNING lab cluster each, made by the operator (anonymous clients)."""
    emu = Emulator(latency_scale=0.01, new_projects="legacy").start()
    c = make_clients(emu)
    clusters = {}
    for project in (LAB_A, LAB_B):
        setup_prerequisites(c, project)
    wait_propagation(emu)
    for project in (LAB_A, LAB_B):
        op = c.gke.create_cluster(
            parent=f"projects/{project}/locations/{REGION}", cluster=build_cluster(project)
        )
        wait_gke(c, op, project)
        clusters[project] = c.gke.get_cluster(name=cluster_name(project))
    yield emu, c, clusters
    c.close()
    emu.stop()


def user_token(emu: Emulator, email: str) -> str:
    return EmulatorAdmin(emu.url).user_token(email)


def product_token(emu: Emulator) -> str:
    """The product's own grant (Application Default Credentials of client gke-lab): the operator."""
    grant = {"grant_type": "refresh_token", "refresh_token": "gke-lab", "client_id": "gke-lab"}
    return httpx.post(f"{emu.url}/token", data=grant, timeout=30).json()["access_token"]


def gke_as(emu: Emulator, token: str) -> container_v1.ClusterManagerClient:
    return container_v1.ClusterManagerClient(
        credentials=Credentials(token=token),
        client_options=ClientOptions(api_endpoint=emu.url),
        transport="rest",
    )


def kube_as(cluster: container_v1.Cluster, token: str, tmp_path) -> client.ApiClient:
    ca = tmp_path / f"{cluster.name}-{cluster.endpoint.replace(':', '_')}-ca.pem"
    ca.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
    cfg = client.Configuration(host=f"https://{cluster.endpoint}", ssl_ca_cert=str(ca))
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    cfg.retries = 0
    return client.ApiClient(cfg)


def grant(c, project: str, role: str, member: str) -> None:
    add_binding(c, f"projects/{project}", role, member, kms=False)


def status_of(err: pytest.ExceptionInfo[ApiException]) -> dict:
    return json.loads(err.value.body)


def test_the_admin_route_refuses_what_is_not_a_user_email(labs):
    emu, _, _ = labs
    for bad in (
        {},
        {"email": "not-an-email"},
        {"email": 'x"@example.com'},
        {"email": "sa@p.iam.gserviceaccount.com"},
    ):
        resp = httpx.post(f"{emu.url}/_emulator/identities/token", json=bad, timeout=30)
        assert resp.status_code == 400, bad


def test_clusters_get_needs_container_clusters_get(labs):
    emu, c, _ = labs
    gke = gke_as(emu, user_token(emu, "carol@example.com"))
    with pytest.raises(gexc.Forbidden) as err:
        gke.get_cluster(name=cluster_name(LAB_A))
    assert (
        f'Required "container.clusters.get" permission(s) for "{cluster_name(LAB_A)}".' in err.value.message
    )
    grant(c, LAB_A, VIEWER, "user:carol@example.com")
    wait_propagation(emu)
    assert gke.get_cluster(name=cluster_name(LAB_A)).status == container_v1.Cluster.Status.RUNNING
    # clusterViewer reads, and nothing more; nor anything in another project
    with pytest.raises(gexc.Forbidden):
        gke.delete_cluster(name=cluster_name(LAB_A))
    with pytest.raises(gexc.Forbidden):
        gke.get_cluster(name=cluster_name(LAB_B))
    # the operator's clients (anonymous, as the product's) and a made-up token
    assert c.gke.get_cluster(name=cluster_name(LAB_B)).name == "cluster"
    # (the official client would try to refresh its token on a 401: ask plainly)
    made_up = httpx.get(
        f"{emu.url}/v1/{cluster_name(LAB_A)}",
        headers={"Authorization": "Bearer ya29.not-issued-here"},
        timeout=30,
    )
    assert made_up.status_code == 401 and made_up.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_claimant_reaches_its_own_lab_only(labs, tmp_path):
    """Alice may fetch credentials of both labs (clusterViewer in both projects), but RBAC binds her in A."""
    emu, c, clusters = labs
    for project in (LAB_A, LAB_B):
        grant(c, project, VIEWER, f"user:{ALICE}")
    wait_propagation(emu)
    with kube_as(clusters[LAB_A], product_token(emu), tmp_path) as operator:
        binding = client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="gke-lab-claimant"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[client.RbacV1Subject(kind="User", name=ALICE, api_group="rbac.authorization.k8s.io")],
        )
        client.RbacAuthorizationV1Api(operator).create_cluster_role_binding(binding)
    token = user_token(emu, ALICE)
    with kube_as(clusters[LAB_A], token, tmp_path) as api:
        assert client.CoreV1Api(api).list_namespaced_pod("default").items is not None
        assert len(client.CoreV1Api(api).list_node().items) == 2
    with kube_as(clusters[LAB_B], token, tmp_path) as api, pytest.raises(ApiException) as err:
        client.CoreV1Api(api).list_namespaced_pod("default")
    assert err.value.status == 403
    body = status_of(err)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "Forbidden",
        403,
    )
    assert body["message"] == (
        f'pods is forbidden: User "{ALICE}" cannot list resource "pods" in API group "" in the namespace '
        '"default": requires one of ["container.pods.list"] permission(s).'
    )
    with kube_as(clusters[LAB_B], token, tmp_path) as api, pytest.raises(ApiException) as err:
        client.CoreV1Api(api).list_node()
    assert 'cannot list resource "nodes" in API group "" at the cluster scope' in status_of(err)["message"]


def test_without_container_clusters_get_a_user_is_not_authenticated(labs, tmp_path):
    emu, _, clusters = labs
    with kube_as(clusters[LAB_A], user_token(emu, BOB), tmp_path) as api, pytest.raises(ApiException) as err:
        client.CoreV1Api(api).list_namespaced_pod("default")
    assert err.value.status == 401 and status_of(err)["reason"] == "Unauthorized"


def test_iam_roles_reach_inside_every_cluster_of_the_project(labs, tmp_path):
    """GKE allows what either IAM or RBAC allows: container.viewer reads, but neither writes nor secrets."""
    emu, c, clusters = labs
    grant(c, LAB_B, "roles/container.viewer", "user:dave@example.com")
    wait_propagation(emu)
    with kube_as(clusters[LAB_B], user_token(emu, "dave@example.com"), tmp_path) as api:
        core = client.CoreV1Api(api)
        assert core.list_namespaced_pod("kube-system").items is not None
        with pytest.raises(ApiException) as err:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="dave")))
        assert err.value.status == 403
        assert status_of(err)["message"].startswith(
            'namespaces is forbidden: User "dave@example.com" cannot create'
        )
        assert '["container.namespaces.create"]' in status_of(err)["message"]
        with pytest.raises(ApiException) as err:
            core.patch_namespace("default", {"metadata": {"labels": {"owner": "dave"}}})
        assert status_of(err)["message"] == (
            'namespaces "default" is forbidden: User "dave@example.com" cannot patch resource "namespaces" '
            'in API group "" in the namespace "default": requires one of ["container.namespaces.update"] '
            "permission(s)."
        )


def test_rbac_objects_and_namespace_bindings(labs, tmp_path):
    emu, c, clusters = labs
    grant(c, LAB_B, VIEWER, "user:erin@example.com")
    wait_propagation(emu)
    with kube_as(clusters[LAB_B], product_token(emu), tmp_path) as operator:
        rbac = client.RbacAuthorizationV1Api(operator)
        names = {r.metadata.name for r in rbac.list_cluster_role().items}
        assert {"cluster-admin", "admin", "edit", "view"} <= names
        admin = rbac.read_cluster_role("cluster-admin")
        assert (
            admin.rules[0].verbs == ["*"]
            and admin.metadata.labels["kubernetes.io/bootstrapping"] == "rbac-defaults"
        )
        groups = [g.name for g in client.ApisApi(operator).get_api_versions().groups]
        assert "rbac.authorization.k8s.io" in groups
        served = {r.name: r.namespaced for r in rbac.get_api_resources().resources}
        assert served == {
            "roles": True,
            "rolebindings": True,
            "clusterroles": False,
            "clusterrolebindings": False,
        }
        role = client.V1Role(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
        )
        rbac.create_namespaced_role("default", role)
        rbac.patch_namespaced_role("pod-reader", "default", {"metadata": {"labels": {"team": "lab"}}})
        assert rbac.read_namespaced_role("pod-reader", "default").metadata.labels == {"team": "lab"}
        binding = client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="erin-reads"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
            subjects=[
                client.RbacV1Subject(
                    kind="User", name="erin@example.com", api_group="rbac.authorization.k8s.io"
                )
            ],
        )
        rbac.create_namespaced_role_binding("default", binding)
        with pytest.raises(ApiException) as err:
            bad = client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="bad"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Secret", name="x"),
            )
            rbac.create_namespaced_role_binding("default", bad)
        assert err.value.status == 422
        erin = kube_as(clusters[LAB_B], user_token(emu, "erin@example.com"), tmp_path)
        with erin:
            core = client.CoreV1Api(erin)
            assert core.list_namespaced_pod("default").items is not None
            with pytest.raises(ApiException) as err:
                core.list_namespaced_pod("kube-system")
            assert err.value.status == 403
            with pytest.raises(ApiException) as err:
                core.delete_namespaced_pod("anything", "default")
            assert err.value.status == 403
            assert status_of(err)["message"].startswith(
                'pods "anything" is forbidden: User "erin@example.com" cannot delete'
            )
        rbac.delete_namespaced_role_binding("erin-reads", "default")
        with kube_as(clusters[LAB_B], user_token(emu, "erin@example.com"), tmp_path) as erin:
            with pytest.raises(ApiException) as err:
                client.CoreV1Api(erin).list_namespaced_pod("default")
            assert err.value.status == 403


def test_rbac_refuses_privilege_escalation(labs, tmp_path):
    """A namespace admin may hand out edit there, but not cluster-admin, nor write a role beyond its own."""
    emu, c, clusters = labs
    grant(c, LAB_B, VIEWER, "user:frank@example.com")
    wait_propagation(emu)
    subject = client.RbacV1Subject(
        kind="User", name="frank@example.com", api_group="rbac.authorization.k8s.io"
    )
    with kube_as(clusters[LAB_B], product_token(emu), tmp_path) as operator:
        client.RbacAuthorizationV1Api(operator).create_namespaced_role_binding(
            "default",
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="frank-admin"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"
                ),
                subjects=[subject],
            ),
        )

    def binding(name: str, role: str) -> client.V1RoleBinding:
        return client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[
                client.RbacV1Subject(
                    kind="User", name="gina@example.com", api_group="rbac.authorization.k8s.io"
                )
            ],
        )

    with kube_as(clusters[LAB_B], user_token(emu, "frank@example.com"), tmp_path) as frank:
        rbac = client.RbacAuthorizationV1Api(frank)
        rbac.create_namespaced_role_binding("default", binding("gina-edit", "edit"))
        small = client.V1Role(
            metadata=client.V1ObjectMeta(name="small"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get"])],
        )
        rbac.create_namespaced_role("default", small)
        rbac.patch_namespaced_role("small", "default", {"metadata": {"labels": {"size": "small"}}})
        # a JSON patch that widens the role is judged on the role it would make
        everything = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
        with pytest.raises(ApiException) as err:
            rbac.patch_namespaced_role(
                "small", "default", [{"op": "add", "path": "/rules/-", "value": everything}]
            )
        assert err.value.status == 403
        assert rbac.read_namespaced_role("small", "default").rules[0].verbs == ["get"]
        with pytest.raises(ApiException) as err:
            rbac.create_namespaced_role_binding("default", binding("gina-root", "cluster-admin"))
        assert err.value.status == 403
        with pytest.raises(ApiException) as err:
            rbac.create_namespaced_role(
                "default",
                client.V1Role(
                    metadata=client.V1ObjectMeta(name="nodes"),
                    rules=[client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])],
                ),
            )
        assert err.value.status == 403
        with pytest.raises(ApiException) as err:
            rbac.create_cluster_role_binding(
                client.V1ClusterRoleBinding(
                    metadata=client.V1ObjectMeta(name="gina-view"),
                    role_ref=client.V1RoleRef(
                        api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"
                    ),
                    subjects=[subject],
                )
            )
        assert err.value.status == 403


def test_the_products_service_account_key_stands_for_the_operator(labs, tmp_path):
    """A service-account key's JWT-bearer grant (a GcpCredentials block) acts as the operator in a cluster,
    within what the admin API leaves the operator."""
    emu, _, clusters = labs
    claims = base64.urlsafe_b64encode(json.dumps({"iss": f"runner@{LAB_A}.iam.gserviceaccount.com"}).encode())
    grant = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": f"e30.{claims.decode()}.sig",
    }
    token = httpx.post(f"{emu.url}/token", data=grant, timeout=30).json()["access_token"]
    with kube_as(clusters[LAB_A], token, tmp_path) as api:
        assert len(client.CoreV1Api(api).list_node().items) == 2
        settings = f"{emu.url}/_emulator/projects/{LAB_A}/settings"
        httpx.post(
            settings, json={"deniedPermissions": ["container.nodes.list"]}, timeout=30
        ).raise_for_status()
        try:
            with pytest.raises(ApiException) as err:
                client.CoreV1Api(api).list_node()
            assert err.value.status == 403
            assert f'User "runner@{LAB_A}.iam.gserviceaccount.com" cannot list' in status_of(err)["message"]
        finally:
            httpx.post(settings, json={"deniedPermissions": []}, timeout=30).raise_for_status()
        assert len(client.CoreV1Api(api).list_node().items) == 2
