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


# ---------------------------------------------------------------- the rule in the core's spec resolution


def test_article_names_are_labspecs_defaults():
    from gke_lab.naming import ARTICLE_NAMES, DEFAULT_LAB
    from gke_lab.spec import LabSpec

    default = LabSpec().model_dump(mode="json")
    assert default["lab"] == DEFAULT_LAB
    for path, name in ARTICLE_NAMES.items():
        node = default
        for part in path.split("."):
            node = node[part]
        assert node == name, path
    assert set(ARTICLE_NAMES) == set(PATHS)


def _names_of(spec) -> dict[str, str]:
    dumped = spec.model_dump(mode="json")
    out = {}
    for path in PATHS:
        node = dumped
        for part in path.split("."):
            node = node[part]
        out[path] = node
    return out


def test_the_default_lab_keeps_the_article_names():
    from gke_lab.naming import ARTICLE_NAMES
    from gke_lab.spec import LabSpec

    assert _names_of(LabSpec()) == ARTICLE_NAMES
    assert _names_of(LabSpec(lab="cluster")) == ARTICLE_NAMES


def test_every_entry_point_gets_the_same_names_for_the_same_lab(tmp_path):
    """CLI (--set / YAML), the UI form (every field sent with its default), REST/schedules (blueprint +
    overrides), and chat (per_lab_overrides) all resolve to the same names."""
    from gke_lab.spec import LabSpec
    from gke_lab.spec_file import load_spec

    expected = per_lab_names("alice")
    cli = load_spec(None, ["lab=alice"])
    yaml_file = tmp_path / "lab.yaml"
    yaml_file.write_text("lab: alice\nnetwork: {cloud_nat: true}\n")
    from_yaml = load_spec(yaml_file)
    form = LabSpec().model_dump(mode="json") | {"lab": "alice"}  # what the UI form submits
    ui = LabSpec.model_validate(form)
    rest = apply_overrides(LabSpec(), ["lab=alice", "ttl_hours=2"])  # a blueprint plus overrides
    chat = apply_overrides({}, [*per_lab_overrides("alice"), "lab=alice"])
    for spec in (cli, from_yaml, ui, rest, chat):
        assert _names_of(spec) == expected
        assert spec.kms.keyring == "keyring-gke"  # the shared key ring stays shared


def test_names_set_explicitly_win_and_the_rest_still_derive():
    from gke_lab.spec import LabSpec
    from gke_lab.spec_file import load_spec

    spec = load_spec(None, ["lab=alice", "cluster.name=mine", "network.subnet.name=my-subnet"])
    assert spec.cluster.name == "mine" and spec.network.subnet.name == "my-subnet"
    assert spec.network.name == "gke-alice-network" and spec.network.pods_range.name == "gke-alice-pods"
    form = LabSpec().model_dump(mode="json") | {"lab": "alice"}
    form["kms"] = form["kms"] | {"node_key": "team-key"}
    assert LabSpec.model_validate(form).kms.node_key == "team-key"
    # the default lab keeps whatever it is given
    assert load_spec(None, ["network.name=gke-alice-network"]).network.name == "gke-alice-network"


def test_a_name_equal_to_the_article_default_counts_as_not_set_for_another_lab():
    from gke_lab.spec_file import load_spec

    spec = load_spec(None, ["lab=alice", "network.name=gke-network", "cluster.name=cluster"])
    assert (spec.network.name, spec.cluster.name) == ("gke-alice-network", "gke-alice")


def test_two_labs_get_disjoint_names_and_input_is_not_changed():
    from gke_lab.spec import LabSpec

    data = {"lab": "alice", "network": {"routing_mode": "REGIONAL"}}
    alice = LabSpec.model_validate(data)
    bob = LabSpec.model_validate(data | {"lab": "bob"})
    assert data == {"lab": "alice", "network": {"routing_mode": "REGIONAL"}}
    assert not set(_names_of(alice).values()) & set(_names_of(bob).values())
    assert alice.network.routing_mode == "REGIONAL" and alice.network.subnet.cidr == "10.128.0.0/20"


def test_chat_overrides_and_core_resolution_agree():
    from gke_lab.spec import LabSpec

    explicit = ["cluster.name=b"]
    chat = apply_overrides({}, [*without_explicit(per_lab_overrides("bob"), explicit), *explicit, "lab=bob"])
    core = LabSpec.model_validate({"lab": "bob", "cluster": {"name": "b"}})
    assert chat == core


def test_a_bad_lab_name_is_refused_naming_the_field_not_derived_around():
    from gke_lab.spec import LabSpec, SpecError

    with pytest.raises(SpecError) as err:
        LabSpec.from_data({"lab": "Bad_Name"})
    assert [path for path, _ in err.value.problems] == ["lab"]
