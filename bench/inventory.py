"""A project's inventory from the emulator's `/_emulator/state`, normalised so two runs compare equal.

Names that differ between two correct runs for reasons outside our control (GKE's per-cluster hash in
its firewall rules and peering route, Kubernetes' generated pod suffixes, the project ID itself when
two runs use different projects) are normalised; everything else must match exactly. The same view
finds duplicates: two resources of one kind with one identity, a role bound twice in one policy, a
member listed twice in one binding.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Per-run identifiers: GKE's cluster hash (8+ hex chars between dashes, or at the end) and
# Kubernetes' generated suffixes (replica-set hash and pod suffix).
_HASH = re.compile(r"(?<=-)[0-9a-f]{8,}(?=-|$)")
_POD = re.compile(r"-[a-z0-9]{5,10}-[a-z0-9]{5}$")
# GKE node (VM) names: gke-<cluster>-<pool>-<hash>-<4 random characters>.
_NODE = re.compile(r"<hash>-[a-z0-9]{4}$")
# State keys that are not resources (scalars or policy maps handled separately).
_SKIP = {
    "number",
    "iamPolicy",
    "keyIamPolicies",
    "kubernetes",
    "serverConfig",
    "operations",
    "clusterOperations",
}
# Kubernetes kinds whose members are derived and whose count is what matters.
_K8S_SKIP = {"events"}
# Reused by the next lab by design: key rings, keys and their versions stay after teardown.
KMS_KINDS = {"keyRings", "cryptoKeys", "cryptoKeyVersions"}


def _ident(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    meta = item.get("metadata")
    if isinstance(meta, dict) and meta.get("name"):
        ns = meta.get("namespace")
        return f"{ns}/{meta['name']}" if ns else str(meta["name"])
    for key in ("name", "selfLink", "email", "id"):
        if item.get(key):
            return str(item[key])
    return repr(sorted(item.items()))


def _norm(text: str, project: str) -> str:
    text = re.sub(rf"(?<![a-z0-9-]){re.escape(project)}(?![a-z0-9-])", "<project>", text)
    text = _POD.sub("-<pod>", text)
    return _NODE.sub("<hash>-<node>", _HASH.sub("<hash>", text))


def items(state: dict, project: str, normalise: bool = True) -> list[tuple[str, str]]:
    """Every resource of `project` as (kind, identity), duplicates kept; identities normalised unless
    `normalise` is false."""
    norm = _norm if normalise else (lambda text, _project: text)
    proj = state.get("projects", {}).get(project) or {}
    out: list[tuple[str, str]] = []
    for kind, value in proj.items():
        if kind in _SKIP or not isinstance(value, list):
            continue
        out.extend((kind, norm(_ident(v), project)) for v in value)
    for cluster, kube in (proj.get("kubernetes") or {}).items():
        if not isinstance(kube, dict):
            continue
        for kind, value in kube.items():
            if kind in _K8S_SKIP or not isinstance(value, list):
                continue
            prefix = f"kubernetes/{norm(cluster, project)}/{kind}"
            out.extend((prefix, norm(_ident(v), project)) for v in value)
    return out


def _policy_pairs(policy: dict | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for binding in (policy or {}).get("bindings", []) or []:
        for member in binding.get("members", []) or []:
            pairs.append((binding.get("role", ""), member))
    return pairs


def bindings(state: dict, project: str) -> set[tuple[str, str, str]]:
    """(resource, role, member) for the project policy ("project") and every key policy."""
    proj = state.get("projects", {}).get(project) or {}
    out = {("project", r, _norm(m, project)) for r, m in _policy_pairs(proj.get("iamPolicy"))}
    for key, policy in (proj.get("keyIamPolicies") or {}).items():
        out |= {(_norm(key, project), r, _norm(m, project)) for r, m in _policy_pairs(policy)}
    return out


def snapshot(state: dict, project: str) -> dict:
    """A comparable view: resource multiset (as sorted list) and binding set."""
    return {
        "resources": sorted(Counter(items(state, project)).items()),
        "bindings": sorted(bindings(state, project)),
    }


def duplicates(state: dict, project: str) -> list[str]:
    """Human-readable descriptions of every duplicate found; empty when there is none."""
    problems: list[str] = []
    for (kind, ident), n in Counter(items(state, project, normalise=False)).items():
        if n > 1:
            problems.append(f"{n} x {kind} {ident}")
    proj = state.get("projects", {}).get(project) or {}
    policies = {"project": proj.get("iamPolicy")} | dict(proj.get("keyIamPolicies") or {})
    for where, policy in policies.items():
        roles = Counter(
            b.get("role") for b in (policy or {}).get("bindings", []) or [] if not b.get("condition")
        )
        problems += [f"role {r} bound {n} times in {where} policy" for r, n in roles.items() if n > 1]
        for b in (policy or {}).get("bindings", []) or []:
            members = Counter(b.get("members", []) or [])
            problems += [
                f"{m} listed {n} times in {where} {b.get('role')}" for m, n in members.items() if n > 1
            ]
    # GKE makes three firewall rules per cluster: more means a cluster was created twice.
    clusters = len(proj.get("clusters") or [])
    gke_rules = [f for f in proj.get("firewalls") or [] if str(f.get("name", "")).startswith("gke-")]
    if len(gke_rules) > 3 * clusters:
        problems.append(f"{len(gke_rules)} GKE firewall rules for {clusters} cluster(s)")
    peering = [r for r in proj.get("routes") or [] if str(r.get("name", "")).startswith("peering-route")]
    if len(peering) > clusters:
        problems.append(f"{len(peering)} control-plane peering routes for {clusters} cluster(s)")
    # Pods beyond what the deployments ask for mean a workload was applied twice.
    for cname, kube in (proj.get("kubernetes") or {}).items():
        if not isinstance(kube, dict):
            continue
        wanted = sum(int((d.get("spec") or {}).get("replicas") or 0) for d in kube.get("deployments") or [])
        pods = len(kube.get("pods") or [])
        if pods > wanted:
            problems.append(f"{pods} pods for {wanted} replicas in cluster {cname}")
    return problems


def left_behind(before: dict, after: dict, project: str, keep_kinds: set[str] = KMS_KINDS) -> list[str]:
    """What `after` has that `before` did not (resources and bindings), apart from `keep_kinds`."""
    old = Counter(items(before, project))
    new = Counter(items(after, project))
    extra = [f"{k} {i}" for (k, i), n in (new - old).items() for _ in range(n) if k not in keep_kinds]
    key_prefix = "projects/<project>/locations/"
    extra += [
        f"binding {r} {m} on {res}"
        for res, r, m in bindings(after, project) - bindings(before, project)
        if not res.startswith(key_prefix)
    ]
    return sorted(extra)
