"""Per-lab resource names: distinct per lab, always valid for their resource, whatever the lab name."""

from __future__ import annotations

import re

import pytest

from gke_lab.naming import PATHS, per_lab_names, per_lab_overrides, without_explicit
from gke_lab.overrides import apply_overrides

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LIMITS = {"cluster.name": (1, 40), "node_service_account.name": (6, 30)}
KMS_ID = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")

LABS = [
    "a",
    "alice",
    "x1",
    "lab-2",
    "a" * 30,
    "b" * 63,
    "a-" * 31 + "z",
    "z" * 62 + "9",
    "Alice",
    "bob_smith",
    "dev.team",
    "-leading",
    "trailing-",
    "9lives",
    "a--b",
    "",
]


def _valid(path: str, name: str) -> bool:
    lo, hi = LIMITS.get(path, (1, 63))
    pattern = KMS_ID if path.startswith("kms.") else RFC1035
    return (
        bool(pattern.match(name)) and lo <= len(name) <= hi and (path.startswith("kms.") or "--" not in name)
    )


@pytest.mark.parametrize("lab", LABS)
def test_every_name_is_valid_for_its_resource(lab):
    names = per_lab_names(lab)
    assert set(names) == set(PATHS)
    bad = {p: n for p, n in names.items() if not _valid(p, n)}
    assert not bad, bad


def test_names_of_different_labs_never_collide_even_when_shortened_or_cleaned():
    labs = [
        *LABS,
        "a" * 62,
        "a" * 61 + "b",
        "a" * 31,
        "a" * 32,
        "bob-smith",
        "bob.smith",
        "alice-1",
        "alice-2",
    ]
    for path in PATHS:
        names = [per_lab_names(lab)[path] for lab in labs]
        assert len(set(names)) == len(labs), path


def test_short_valid_names_read_as_the_lab_name():
    names = per_lab_names("alice")
    assert names["cluster.name"] == "gke-alice"
    assert names["network.name"] == "gke-alice-network"
    assert names["node_service_account.name"] == "gke-alice-node"
    assert (names["kms.node_key"], names["kms.secrets_key"]) == (
        "gke-alice-node-key",
        "gke-alice-secrets-key",
    )


def test_derived_names_never_equal_the_default_lab_names():
    from gke_lab.spec import LabSpec

    default = LabSpec()
    for lab in ("cluster", "gke", "network", "node"):
        spec = apply_overrides(None, per_lab_overrides(lab))
        assert spec.cluster.name != default.cluster.name
        assert spec.network.name != default.network.name
        assert spec.node_service_account.name != default.node_service_account.name
        assert spec.kms.node_key != default.kms.node_key and spec.kms.secrets_key != default.kms.secrets_key


@pytest.mark.parametrize("lab", ["alice", "a" * 63, "m" * 30])
def test_overrides_pass_labspec_validation(lab):
    spec = apply_overrides(None, [*per_lab_overrides(lab), f"lab={lab}"])
    assert spec.lab == lab
    assert spec.kms.keyring == "keyring-gke"


def test_without_explicit_drops_paths_set_by_the_user_or_under_a_set_parent():
    derived = per_lab_overrides("alice")
    kept = without_explicit(derived, ["cluster.name=mine", "network={name: x}", "echo.replicas=3"])
    paths = [o.partition("=")[0] for o in kept]
    assert "cluster.name" not in paths and not [p for p in paths if p.startswith("network.")]
    assert "node_service_account.name" in paths and "kms.node_key" in paths
