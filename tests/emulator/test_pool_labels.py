"""setResourceLabels as GKE answers it: the label fingerprint is required and must be the current one."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from tests.emulator.helpers import wait_gke
from tests.emulator.test_cluster_e2e import CLUSTER, create_cluster


def test_set_labels_requires_the_current_fingerprint(emulator_factory):
    emu, c, cluster = create_cluster(emulator_factory)
    try:
        expected = cluster.label_fingerprint
        for supplied in ("", "0123abcd"):
            with pytest.raises(gexc.BadRequest) as err:
                c.gke.set_labels(
                    request={"name": CLUSTER, "resource_labels": {"a": "b"}, "label_fingerprint": supplied}
                )
            assert (
                "Labels could not be set due to fingerprint mismatch; try again with the proper "
                f'fingerprint: incorrect fingerprint supplied was "{supplied}", the expected one is '
                f'"{expected}".'
            ) in err.value.message
            assert err.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
        assert dict(c.gke.get_cluster(name=CLUSTER).resource_labels) == dict(cluster.resource_labels)
        wait_gke(
            c,
            c.gke.set_labels(
                request={"name": CLUSTER, "resource_labels": {"a": "b"}, "label_fingerprint": expected}
            ),
        )
        relabelled = c.gke.get_cluster(name=CLUSTER)
        assert dict(relabelled.resource_labels) == {"a": "b"}
        # the fingerprint that was current before is stale now
        with pytest.raises(gexc.BadRequest):
            c.gke.set_labels(
                request={"name": CLUSTER, "resource_labels": {"a": "c"}, "label_fingerprint": expected}
            )
    finally:
        c.close()
