"""The typed results tasks hand to flows survive Prefect's result persistence (JSON and pickle)."""

import pytest
from prefect.serializers import JSONSerializer, PickleSerializer

from gke_lab.plan import LivePlan
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.resources.crypto_key import CryptoKeyResult
from gke_lab.resources.decision import Action, Blocker, Decision, Difference
from gke_lab.resources.default_network import DefaultNetworkResult
from gke_lab.resources.iam_policy import Grants
from gke_lab.resources.key_ring import KeyRingResult
from gke_lab.resources.network import NetworkImpact, NetworkResult
from gke_lab.resources.project import ServerVersion
from gke_lab.resources.router import RouterResult
from gke_lab.resources.service_account import ServiceAccountResult
from gke_lab.resources.subnetwork import SubnetworkResult
from gke_lab.resources.workload import WorkloadResult

RESULTS = [
    DefaultNetworkResult(deleted=True, reason="deleted", rules_deleted=["default-allow-ssh"]),
    NetworkResult(name="gke-network", self_link="https://x/gke-network", created=True),
    SubnetworkResult(name="gke-subnet", self_link="https://x/gke-subnet", created=False),
    RouterResult(name=None, nat=None, created=False, reason="cloud_nat is false"),
    KeyRingResult(name="projects/p/locations/l/keyRings/r", created=True),
    CryptoKeyResult(name="projects/p/locations/l/keyRings/r/cryptoKeys/k", created=False),
    Grants(
        resource="projects/p", granted=[("roles/logging.logWriter", "serviceAccount:n@p")], granted_at=1.5
    ),
    ServiceAccountResult(email="n@p.iam.gserviceaccount.com", created=True, created_at=2.5),
    ServerVersion(version="1.31.1-gke.1", default="1.31.1-gke.1", offered=["1.31.1-gke.1"]),
    ClusterAccess(
        name="cluster",
        location="us-west1",
        endpoint="127.0.0.1:443",
        ca_certificate="Q0E=",
        status="RUNNING",
        expires=10,
        lab="cluster",
        authorized_networks=["127.0.0.1/32"],
    ),
    WorkloadResult(
        namespace="default", deployment="created", service="unchanged", rollout={"ready": 2}, image="i"
    ),
    NetworkImpact(firewalls=[{"name": "gke-x"}], routes=[]),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_results_round_trip_through_json_and_pickle(result):
    for serializer in (JSONSerializer(), PickleSerializer()):
        assert serializer.loads(serializer.dumps(result)) == result


def test_live_plan_round_trips_through_pickle():
    plan = LivePlan(
        decisions=(
            Decision(Action.DIFFERS, "compute.network", "n", "r", differences=(Difference("f", 1, 2),)),
            Decision(Action.BLOCKED, "kms.cryptoKey", "k", "r", blocker=Blocker.NOT_OWNED, message="no"),
        )
    )
    serializer = PickleSerializer()
    assert serializer.loads(serializer.dumps(plan)) == plan
