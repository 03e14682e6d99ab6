"""Teardown on real GCP: GKE's rules by every prefix; network deletes wait out lingering users, bounded."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from gke_lab.errors import LabError
from gke_lab.teardown import GKE_RULE_PREFIXES, until_free

IN_USE = gexc.BadRequest(
    "The network resource 'projects/p/global/networks/gke-network' is already being used by "
    "'projects/p/global/networks/gke-network/peerings/gke-n1234-peer' (resourceInUseByAnotherResource)"
)


def test_every_documented_gke_rule_prefix():
    for name in ("k8s-fw-a1b2", "k8s-1234-node-hc", "k8s2-abcd-echo-lb", "gke-cluster-1234-all"):
        assert name.startswith(GKE_RULE_PREFIXES)
    assert not "default-allow-ssh".startswith(GKE_RULE_PREFIXES)


def test_in_use_is_retried_until_free():
    attempts, slept = [], []

    def delete():
        attempts.append(1)
        if len(attempts) < 3:
            raise IN_USE
        return "deleted"

    assert until_free(delete, "networks/gke-network", clock=lambda: 0.0, sleep=slept.append) == "deleted"
    assert len(attempts) == 3 and len(slept) == 2


def test_in_use_past_the_window_names_what_uses_it():
    now = iter([0.0, 10.0, 1000.0])

    def delete():
        raise IN_USE

    with pytest.raises(LabError, match="still in use .*peerings/gke-n1234-peer"):
        until_free(
            delete, "networks/gke-network", window=900.0, clock=lambda: next(now), sleep=lambda s: None
        )


def test_other_errors_are_not_retried():
    def delete():
        raise gexc.Forbidden("denied")

    with pytest.raises(gexc.Forbidden):
        until_free(delete, "networks/gke-network", clock=lambda: 0.0, sleep=lambda s: None)


class _Networks:
    def __init__(self):
        self.removed: list[str] = []

    def remove_peering_unary(self, project, network, networks_remove_peering_request_resource):
        self.removed.append(networks_remove_peering_request_resource.name)
        return None  # an already finished operation is not waited for in this fake


def _network(*peerings: str):
    from types import SimpleNamespace

    from gke_lab import inventory as inv

    raw = SimpleNamespace(peerings=[SimpleNamespace(name=p) for p in peerings])
    return inv.Resource(kind="network", name="gke-network", location="global", marker=None, raw=raw)


def test_leftover_gke_peering_removed_once_no_cluster_uses_the_network(monkeypatch):
    from types import SimpleNamespace

    from gke_lab import teardown

    clients = SimpleNamespace(networks=_Networks())
    monkeypatch.setattr(teardown.inv, "clusters", lambda c, project: [])
    names = teardown.remove_leftover_peerings(
        clients, "p", _network("gke-n1a2b3c4d5-1234-peer", "office-vpn-peering")
    )
    assert names == ["gke-n1a2b3c4d5-1234-peer"] and clients.networks.removed == names


def test_peering_kept_while_a_cluster_is_on_the_network(monkeypatch):
    from types import SimpleNamespace

    from gke_lab import teardown

    clients = SimpleNamespace(networks=_Networks())
    live = SimpleNamespace(network="gke-network")
    monkeypatch.setattr(teardown.inv, "clusters", lambda c, project: [live])
    assert teardown.remove_leftover_peerings(clients, "p", _network("gke-n1a2b3c4d5-1234-peer")) == []
    assert clients.networks.removed == []
