"""The kubeconfig writer in a hostile home directory: planted links, symlinked configs, malformed files."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from google.cloud import container_v1

from gke_lab.cli import main
from gke_lab.errors import LabError
from gke_lab.kubeconfig import write_kubeconfig

CONTEXT = "gke_gke-detail_us-west1_cluster"


def _cluster() -> container_v1.Cluster:
    return container_v1.Cluster(
        name="cluster",
        location="us-west1",
        endpoint="203.0.113.10",
        self_link="https://container.googleapis.com/v1/projects/gke-detail/locations/us-west1/clusters/cluster",
        status=container_v1.Cluster.Status.RUNNING,
        master_auth=container_v1.MasterAuth(cluster_ca_certificate="Q0E="),
    )


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_new_file_is_0600_with_no_temporary_file_left(tmp_path):
    path = tmp_path / "kube" / "config"
    assert write_kubeconfig(_cluster(), path) == CONTEXT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _leftovers(path.parent) == []


def test_a_planted_tmp_symlink_is_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "config.tmp").symlink_to(victim)
    path = tmp_path / "config"
    write_kubeconfig(_cluster(), path)
    assert victim.read_text() == "precious\n"
    assert yaml.safe_load(path.read_text())["current-context"] == CONTEXT
    assert not path.is_symlink()


def test_a_symlinked_config_stays_a_link_and_its_target_is_updated(tmp_path):
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [{"name": "other"}]}))
    link = tmp_path / "config"
    link.symlink_to(real)
    write_kubeconfig(_cluster(), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    config = yaml.safe_load(real.read_text())
    assert [c["name"] for c in config["contexts"]] == ["other", CONTEXT]
    assert _leftovers(real.parent) == [] and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("contexts: not-a-list\n", "'contexts' must be a list"),
        ("clusters: {a: 1}\n", "'clusters' must be a list"),
        ("users: [1, 2]\n", "'users' must be a list"),
        ("- just\n- a list\n", "mapping at the top level"),
        ("plain text\n", "mapping at the top level"),
        ("contexts: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_config_is_refused_and_left_untouched(tmp_path, text, fragment):
    path = tmp_path / "config"
    path.write_text(text)
    before = path.stat()
    with pytest.raises(LabError) as info:
        write_kubeconfig(_cluster(), path)
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert path.read_text() == text and path.stat().st_ino == before.st_ino
    assert _leftovers(tmp_path) == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_kubeconfig(_cluster(), path)
    assert path.read_text() == "apiVersion: v1\nkind: Config\n"
    assert _leftovers(tmp_path) == []


def test_the_cli_exits_2_naming_the_malformed_file(tmp_path, monkeypatch):
    import gke_lab.clients

    fake = SimpleNamespace(container=SimpleNamespace(get_cluster=lambda name: _cluster()))
    monkeypatch.setattr(gke_lab.clients.Clients, "from_env", classmethod(lambda cls, *a, **k: fake))
    path = tmp_path / "config"
    path.write_text("contexts: 7\n")
    result = CliRunner().invoke(main, ["kubeconfig", "--output", str(path)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert str(path) in result.stderr and "contexts" in result.stderr
    assert path.read_text() == "contexts: 7\n"


def test_the_merge_happens_under_an_exclusive_lock_beside_the_file(tmp_path, monkeypatch):
    import fcntl

    import gke_lab.kubeconfig as kubeconfig

    path = tmp_path / "config"
    events: list[str] = []
    real_flock, real_read = fcntl.flock, kubeconfig._read_config

    def flock(fd, operation):
        events.append(f"flock {os.readlink(f'/proc/self/fd/{fd}')} {operation == fcntl.LOCK_EX}")
        return real_flock(fd, operation)

    def read(target):
        events.append("read")
        return real_read(target)

    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(kubeconfig, "_read_config", read)
    write_kubeconfig(_cluster(), path)
    assert events == [f"flock {tmp_path / 'config.lock'} True", "read"]
