"""Image references and which registries private nodes can pull from."""

from __future__ import annotations


def is_google_registry(image: str) -> bool:
    """Registries private nodes reach through Private Google Access (no NAT needed)."""
    host = image_registry(image)
    return host == "gcr.io" or host.endswith(".gcr.io") or host.endswith(".pkg.dev")


def image_registry(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def image_reference_parts(image: str) -> tuple[str, str, str]:
    """(registry, repository, tag) the way containerd resolves a reference."""
    registry = image_registry(image)
    rest = image.split("/", 1)[1] if image.lower().startswith(registry + "/") else image
    if registry == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    if "@" in rest:
        repo, tag = rest.split("@", 1)
    elif ":" in rest.rsplit("/", 1)[-1]:
        repo, tag = rest.rsplit(":", 1)
    else:
        repo, tag = rest, "latest"
    return registry, repo, tag


# Docker image manifest schema 1 images a lab may name: echoserver 1.4 was pushed as schema 1
# (kubernetes/k8s.io issue 8650); echoserver 1.10 is schema 2.
SCHEMA1_IMAGES = {("echoserver", "1.4")}

# containerd 2.0 refuses schema 1 pulls (GKE 1.33+ nodes run it:
# https://cloud.google.com/kubernetes-engine/docs/deprecations/migrate-containerd-2).
SCHEMA1_REFUSED = (
    "Pulling Schema 1 images have been deprecated and disabled by default since containerd v2.0. As a "
    "workaround you may set an environment variable `CONTAINERD_ENABLE_DEPRECATED_PULL_SCHEMA_1_IMAGE=1`, "
    "but this will be completely removed in containerd v2.1"
)


def is_schema1(image: str) -> bool:
    _, repo, tag = image_reference_parts(image)
    return (repo.rsplit("/", 1)[-1], tag) in SCHEMA1_IMAGES


def runs_containerd2(version: str) -> bool:
    """GKE nodes of version 1.33 and later run containerd 2."""
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 33)
