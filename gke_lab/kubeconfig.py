"""Write a kubeconfig for a lab cluster the way `gcloud container clusters get-credentials` does.

No credential is written: the user entry runs the `gke-gcloud-auth-plugin` exec plugin, which fetches a
fresh token from the user's gcloud credentials whenever kubectl needs one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import yaml

from gke_lab.errors import LabError


def context_name(project: str, location: str, name: str) -> str:
    return f"gke_{project}_{location}_{name}"


def _project_of(cluster: Any) -> str:
    # self_link: https://container.googleapis.com/v1/projects/P/locations/L/clusters/N
    parts = (cluster.self_link or "").split("/")
    if "projects" in parts:
        return parts[parts.index("projects") + 1]
    raise LabError(f"cannot tell the project of cluster {cluster.name!r} (no self_link)")


def entries(
    cluster: Any, project: str | None = None
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(name, cluster entry, user entry, context entry) for one cluster."""
    if not cluster.endpoint:
        raise LabError(f"cluster {cluster.name!r} has no endpoint yet (status {cluster.status.name})")
    project = project or _project_of(cluster)
    name = context_name(project, cluster.location, cluster.name)
    cluster_entry = {
        "name": name,
        "cluster": {
            "server": f"https://{cluster.endpoint}",
            "certificate-authority-data": cluster.master_auth.cluster_ca_certificate,
        },
    }
    user_entry = {
        "name": name,
        "user": {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "gke-gcloud-auth-plugin",
                "installHint": "Install gke-gcloud-auth-plugin for use with kubectl by following "
                "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin",
                "provideClusterInfo": True,
                "interactiveMode": "IfAvailable",
            }
        },
    }
    context_entry = {"name": name, "context": {"cluster": name, "user": name}}
    return name, cluster_entry, user_entry, context_entry


def _upsert(items: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [x for x in items if x.get("name") != entry["name"]] + [entry]


class KubeconfigError(LabError):
    """The kubeconfig file cannot be merged into; it was left as it was."""


def _read_config(target: Path) -> dict[str, Any]:
    """The existing config at `target` ({} when missing), refusing anything that is not a kubeconfig."""
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(
            f"{target}: cannot read the kubeconfig ({exc}); it was left untouched"
        ) from None
    try:
        config = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise KubeconfigError(f"{target}: not valid YAML ({exc}); it was left untouched") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise KubeconfigError(
            f"{target}: not a kubeconfig (expected a mapping at the top level, found "
            f"{type(config).__name__}); it was left untouched"
        )
    for key in ("clusters", "users", "contexts"):
        items = config.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise KubeconfigError(
                f"{target}: not a kubeconfig ({key!r} must be a list of mappings); it was left untouched"
            )
    return config


def _resolve(path: Path) -> Path:
    """The file a (possibly symlinked) config path names: a symlinked ~/.kube/config stays a link and its
    target is what gets replaced. A dangling link names the file it would create."""
    return Path(os.path.realpath(path))


def _write_atomically(target: Path, text: str) -> None:
    """Replace `target` by `text` through a new 0600 file beside it (never through a planted link)."""
    fd, tmp = -1, ""
    for attempt in range(100):
        tmp = str(target.with_name(f".{target.name}.{os.getpid()}.{attempt}.tmp"))
        try:
            # O_EXCL with O_CREAT never follows a symlink: a planted link makes this fail, not write through.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise KubeconfigError(f"{target}: cannot create a temporary file beside it")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_kubeconfig(cluster: Any, path: str | os.PathLike[str], project: str | None = None) -> str:
    """Merge the cluster into the kubeconfig at `path` (created 0600 when missing); make it current.

    Returns the context name. Other clusters, users and contexts in the file are kept. The file is
    rewritten atomically under a lock (`<file>.lock` beside it, so two writers never lose an entry);
    a file that is not a kubeconfig raises KubeconfigError and is left as it was.
    """
    name, cluster_entry, user_entry, context_entry = entries(cluster, project)
    target = _resolve(Path(path).expanduser())
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    try:
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise KubeconfigError(f"{target}: cannot open the lock file {lock_path} ({exc.strerror})") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        config = _read_config(target)
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        config.setdefault("preferences", {})
        config["clusters"] = _upsert(config.get("clusters") or [], cluster_entry)
        config["users"] = _upsert(config.get("users") or [], user_entry)
        config["contexts"] = _upsert(config.get("contexts") or [], context_entry)
        config["current-context"] = name
        _write_atomically(target, yaml.safe_dump(config, sort_keys=False))
    finally:
        os.close(lock_fd)  # closing releases the lock
    return name


def default_path() -> str:
    """$KUBECONFIG's first entry, else ~/.kube/config (as kubectl and gcloud choose)."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or str(Path.home() / ".kube" / "config")
