"""A lab provisioned again after `down --destroy-keys` reuses its keys with a fresh primary version, through
the real flows (issue 13, case 4: "a later up of the same lab then reuses a key with no enabled primary
version without noticing")."""

from __future__ import annotations

import pytest

from gke_lab.overrides import apply_overrides
from tests.fixtures_emulator import LOCAL_NETWORK

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_up_after_destroy_keys_rotates_the_lab_keys_and_the_cluster_uses_them(prefect_harness, lab_admin):
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab

    lab = apply_overrides(None, [LOCAL_NETWORK])
    provision_lab(spec=lab)
    teardown_lab(spec=lab, destroy_keys=True)
    provision_lab(spec=lab)

    state = lab_admin.project_state()
    for which in ("node", "secrets"):
        key = next(k for k in state["cryptoKeys"] if k["name"] == lab.key_name(which))
        assert key["primary"]["name"] == f"{lab.key_name(which)}/cryptoKeyVersions/2"
        assert key["primary"]["state"] == "ENABLED"
        first = next(
            v for v in state["cryptoKeyVersions"] if v["name"] == f"{lab.key_name(which)}/cryptoKeyVersions/1"
        )
        assert first["state"] == "DESTROY_SCHEDULED"  # the destruction asked for is left as asked
    (cluster,) = [c for c in state["clusters"] if c["name"] == lab.cluster.name]
    assert cluster["status"] == "RUNNING"
