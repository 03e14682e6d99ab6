"""The kubeconfig gke-lab writes: gcloud's names and exec plugin, a CA that really verifies the server."""

from __future__ import annotations

import base64
import stat

import pytest
import yaml
from google.cloud import container_v1
from kubernetes import client as k8s

from gke_lab import kube
from gke_lab.kubeconfig import write_kubeconfig
from tests.e2e.test_verify_kube import TOKEN, start_cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def live():
    c = start_cluster(authorized=None)
    cluster = container_v1.Cluster(
        name="cluster",
        location="us-west1",
        endpoint=c.endpoint,
        self_link="https://container.googleapis.com/v1/projects/gke-detail/locations/us-west1/clusters/cluster",
        status=container_v1.Cluster.Status.RUNNING,
        master_auth=container_v1.MasterAuth(cluster_ca_certificate=c.ca_certificate_b64),
    )
    yield c, cluster
    c.stop()


def test_kubeconfig_like_gcloud(live, tmp_path):
    _, cluster = live
    path = tmp_path / "kube" / "config"
    name = write_kubeconfig(cluster, path)
    assert name == "gke_gke-detail_us-west1_cluster"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == name
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"] == f"https://{cluster.endpoint}"
    assert entry["cluster"]["certificate-authority-data"] == cluster.master_auth.cluster_ca_certificate
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert set(user["user"]) == {"exec"}  # no token, password or key on disk
    assert config["contexts"] == [{"name": name, "context": {"cluster": name, "user": name}}]


def test_kubeconfig_ca_verifies_the_server(live, tmp_path):
    _, cluster = live
    path = tmp_path / "config"
    write_kubeconfig(cluster, path)
    entry = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    api = kube.api_client(
        entry["server"].removeprefix("https://"), entry["certificate-authority-data"], TOKEN
    )
    nodes = k8s.CoreV1Api(api).list_node().items
    assert len(nodes) == 2


def test_wrong_ca_is_refused(live):
    c, _ = live
    other = start_cluster(authorized=None)
    try:
        api = kube.api_client(c.endpoint, other.ca_certificate_b64, TOKEN)
        with pytest.raises(
            kube.ControlPlaneUnreachable, match="CERTIFICATE_VERIFY_FAILED|certificate verify"
        ):
            k8s.CoreV1Api(api).list_node()
    finally:
        other.stop()
    with pytest.raises(Exception, match="not valid base64"):
        kube.api_client(c.endpoint, base64.b64encode(b"x").decode() + "!!", TOKEN)


def test_merge_keeps_other_entries(live, tmp_path):
    _, cluster = live
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://10.0.0.1"}}],
                "users": [{"name": "other", "user": {"token": "keep-me"}}],
                "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
                "current-context": "other",
            }
        )
    )
    write_kubeconfig(cluster, path)
    write_kubeconfig(cluster, path)  # idempotent: no duplicate entries
    config = yaml.safe_load(path.read_text())
    assert [c["name"] for c in config["clusters"]] == ["other", "gke_gke-detail_us-west1_cluster"]
    assert [c["name"] for c in config["contexts"]] == ["other", "gke_gke-detail_us-west1_cluster"]
    assert config["current-context"] == "gke_gke-detail_us-west1_cluster"
