"""gke-lab list / extend / down / reap against the emulator, through the real command line group."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def cluster_labels(admin: EmulatorAdmin) -> dict:
    st = admin.project_state()
    return {c["name"]: c.get("resourceLabels", {}) for c in st["clusters"]}


def lab_keys(admin: EmulatorAdmin) -> tuple[dict[str, dict], dict[str, str]]:
    """The lab's own KMS keys (short name -> labels) and the states of their versions, from the emulator."""
    st = admin.project_state()
    labels = {
        k["name"].rsplit("/", 1)[1]: k.get("labels", {})
        for k in st["cryptoKeys"]
        if k.get("labels", {}).get("gke-lab") == "cluster"
    }
    versions = {
        v["name"]: v["state"]
        for v in st["cryptoKeyVersions"]
        if v["name"].split("/cryptoKeys/")[1].split("/")[0] in labels
    }
    return labels, versions


def test_list_extend_down_and_reap(prefect_harness, lab_admin):
    from flows.provision import provision_lab
    from gke_lab.overrides import apply_overrides

    provision_lab(spec=apply_overrides(None, [LOCAL_NETWORK]))

    listed = run("list", "--project", PROJECT)
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if row.startswith(PROJECT))
    assert " cluster " in line and "us-west1/cluster" in line

    before = int(cluster_labels(lab_admin)["cluster"]["gke-lab-expires"])
    extended = run("extend", "cluster", "--hours", "2", "--project", PROJECT)
    assert extended.exit_code == 0, extended.output
    labels = cluster_labels(lab_admin)["cluster"]
    assert int(labels["gke-lab-expires"]) == before + 7200
    assert labels["gke-lab"] == "cluster" and labels["managed-by"] == "gke-lab"
    assert "key-gke-node" in extended.output
    # The lab's own keys carry the new expiry too, as stored in KMS.
    keys, _ = lab_keys(lab_admin)
    assert sorted(keys) == ["key-gke-node", "key-gke-secret"]
    assert {name: int(k["gke-lab-expires"]) for name, k in keys.items()} == {
        "key-gke-node": before + 7200,
        "key-gke-secret": before + 7200,
    }

    refused = run("extend", "cluster", "--hours", "0", "--project", PROJECT)
    assert refused.exit_code == 2 and "--hours" in refused.output
    missing = run("extend", "nope", "--hours", "1", "--project", PROJECT)
    assert missing.exit_code == 1 and "no cluster of lab 'nope'" in missing.output

    dry = run("reap", "--project", PROJECT, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "not expired" in dry.output and "dry run" in dry.output

    bad = run("down", "--set", "cluster.num_nodes=many")
    assert bad.exit_code == 2 and "cluster.num_nodes" in bad.output

    preview = run("down", "--dry-run", "--set", LOCAL_NETWORK)
    assert preview.exit_code == 0, preview.output
    assert "would delete" in preview.output and "cluster" in cluster_labels(lab_admin)

    down = run("down", "--set", LOCAL_NETWORK)
    assert down.exit_code == 0, down.output
    assert "| deleted |" in down.output and cluster_labels(lab_admin) == {}
    # Without --destroy-keys, the keys are kept usable: every version of the lab's keys is still ENABLED.
    keys, versions = lab_keys(lab_admin)
    assert sorted(keys) == ["key-gke-node", "key-gke-secret"]
    assert versions and set(versions.values()) == {"ENABLED"}, versions

    empty = run("list", "--project", PROJECT)
    assert "(no labs found)" in empty.output
