"""Write a kubeconfig for a lab cluster the way `gcloud container clusters get-credentials` does.

No credential is written: the user entry runs the `gke-gcloud-auth-plugin` exec plugin, which fetches a
fresh token from the user's gcloud credentials whenever kubectl needs one.
"""

from __future__ import annotations

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


def entries(cluster: Any, project: str | None = None) -> tuple[str, dict, dict, dict]:
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


def _upsert(items: list[dict], entry: dict) -> list[dict]:
    return [x for x in items if x.get("name") != entry["name"]] + [entry]


def write_kubeconfig(cluster: Any, path: str | os.PathLike[str], project: str | None = None) -> str:
    """Merge the cluster into the kubeconfig at `path` (created 0600 when missing); make it current.

    Returns the context name. Other clusters, users and contexts in the file are kept.
    """
    name, cluster_entry, user_entry, context_entry = entries(cluster, project)
    target = Path(path).expanduser()
    config: dict = {}
    if target.exists():
        config = yaml.safe_load(target.read_text()) or {}
        if not isinstance(config, dict):
            raise LabError(f"{target} is not a kubeconfig (expected a mapping)")
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    config.setdefault("preferences", {})
    config["clusters"] = _upsert(config.get("clusters") or [], cluster_entry)
    config["users"] = _upsert(config.get("users") or [], user_entry)
    config["contexts"] = _upsert(config.get("contexts") or [], context_entry)
    config["current-context"] = name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    os.replace(tmp, target)
    return name


def default_path() -> str:
    """$KUBECONFIG's first entry, else ~/.kube/config (as kubectl and gcloud choose)."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or str(Path.home() / ".kube" / "config")
