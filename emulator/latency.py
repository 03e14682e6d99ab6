"""The one latency table: how long each simulated wait takes, in seconds at latency scale 1.0.

The emulator's clock reads it for every operation; the benchmarks read the same table (as data) for their
critical paths, so the two cannot drift apart. Keys name a collection and what happens to it
("networks.insert", "pod.ready"). DESIGN.md, "Reference latency profile", documents the values.
"""

from __future__ import annotations

PROFILE: dict[str, float] = {
    "networks.insert": 12.0,
    "networks.delete": 10.0,
    "networks.removePeering": 10.0,
    "subnetworks.insert": 10.0,
    "subnetworks.delete": 8.0,
    "firewalls.insert": 6.0,
    "firewalls.delete": 6.0,
    "firewalls.patch": 6.0,
    "routes.insert": 6.0,
    "routes.delete": 6.0,
    "routers.insert": 8.0,
    "routers.delete": 8.0,
    "routers.patch": 8.0,
    "keyRings.create": 0.3,
    "cryptoKeys.create": 0.5,
    "setIamPolicy": 0.3,
    "serviceAccounts.create": 0.8,
    "serviceAccounts.delete": 0.8,
    "iam.propagation": 30.0,
    "clusters.create": 420.0,
    "clusters.delete": 240.0,
    "clusters.update": 10.0,
    "pod.ready": 20.0,
    "endpoints.ready": 2.0,
    # not in the design table: a LoadBalancer Service gets its external IP after about this long
    "loadBalancer.ready": 40.0,
    # Service Usage services.enable / batchEnable until the operation is done and the API answers
    "services.enable": 20.0,
    # after a cluster delete ends, GKE's firewall rules and control-plane peering still refer to the
    # network for a while (terraform-provider-google issue 5423)
    "clusters.leftovers": 90.0,
}

# Share of clusters.create after which node VMs are created (and the boot-disk key is used).
NODE_CREATION_FRACTION = 0.6
