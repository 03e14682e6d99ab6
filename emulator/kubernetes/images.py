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
