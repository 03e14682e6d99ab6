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
