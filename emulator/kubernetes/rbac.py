"""Kubernetes RBAC: Roles, ClusterRoles and their bindings, the default ClusterRoles, and the decision.

Rules and defaults follow https://kubernetes.io/docs/reference/access-authn-authz/rbac/: a Role's rules apply
in its namespace, a ClusterRole's everywhere when a ClusterRoleBinding binds it and in one namespace when a
RoleBinding does; a rule matches on API groups, resources ("resource/subresource"), verbs, optional resource
names, with "*" for all; subjects are Users, Groups and ServiceAccounts. The user-facing default ClusterRoles
(cluster-admin, admin, edit, view) and the discovery roles bound to system:authenticated exist from the start,
labelled kubernetes.io/bootstrapping=rbac-defaults. A user may create or update a Role or binding only for
permissions it holds itself, unless it may `escalate` / `bind`
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping).
GKE takes Google accounts (their e-mail) as User subjects
(https://cloud.google.com/kubernetes-engine/docs/how-to/role-based-access-control).
"""

from __future__ import annotations

from emulator.kubernetes.authz import Attributes
from emulator.kubernetes.errors import invalid
from emulator.kubernetes.objects import RBAC as RBAC_GROUP
from emulator.kubernetes.validation import _DNS1123_SUBDOMAIN

_ALL = ["*"]
_WORKLOADS = {
    "": ["pods", "pods/log", "services", "services/proxy", "endpoints", "events", "configmaps", "secrets"],
    "apps": ["deployments", "deployments/scale", "replicasets", "replicasets/scale"],
}
_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]


def _rules(verbs: list[str], *, secrets: bool = True, rbac: bool = False) -> list[dict]:
    rules = []
    for group, resources in _WORKLOADS.items():
        chosen = [r for r in resources if secrets or r != "secrets"]
        rules.append({"apiGroups": [group], "resources": chosen, "verbs": list(verbs)})
    rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]})
    if rbac:
        rules.append(
            {"apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"], "verbs": [*_READ, *_WRITE]}
        )
    return rules


# name -> rules of the default ClusterRoles (a subset of upstream's, for the resources served here)
DEFAULT_CLUSTER_ROLES: dict[str, list[dict]] = {
    "cluster-admin": [
        {"apiGroups": _ALL, "resources": _ALL, "verbs": _ALL},
        {"nonResourceURLs": _ALL, "verbs": _ALL},
    ],
    "admin": _rules([*_READ, *_WRITE], rbac=True),
    "edit": _rules([*_READ, *_WRITE]),
    "view": _rules(_READ, secrets=False),
    "system:discovery": [
        {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/version", "/healthz"], "verbs": ["get"]}
    ],
    "system:basic-user": [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        }
    ],
    "system:public-info-viewer": [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
    ],
}
# name -> (ClusterRole, groups) of the default ClusterRoleBindings
DEFAULT_CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[str]]] = {
    "cluster-admin": ("cluster-admin", ["system:masters"]),
    "system:discovery": ("system:discovery", ["system:authenticated"]),
    "system:basic-user": ("system:basic-user", ["system:authenticated"]),
    "system:public-info-viewer": (
        "system:public-info-viewer",
        ["system:authenticated", "system:unauthenticated"],
    ),
}
_DEFAULTS = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
_ROLE_REF_KINDS = {"Role", "ClusterRole"}


def _rule_matches(rule: dict, attrs: Attributes, resource: str) -> bool:
    groups, resources, verbs = (
        rule.get("apiGroups") or [],
        rule.get("resources") or [],
        rule.get("verbs") or [],
    )
    names = rule.get("resourceNames") or []
    return (
        ("*" in verbs or attrs.verb in verbs)
        and ("*" in groups or attrs.group in groups)
        and ("*" in resources or resource in resources or f"{attrs.resource}/*" in resources)
        and (not names or attrs.name in names)
    )


class _Rbac:
    """RBAC object hooks, the default roles, and whether RBAC allows a request."""

    # ---- bootstrap ----------------------------------------------------------------------------
    def _bootstrap_rbac(self) -> None:
        roles = self._store[(RBAC_GROUP, "clusterroles")]
        for name, rules in DEFAULT_CLUSTER_ROLES.items():
            roles[("", name)] = {
                "metadata": self._meta(name, **_DEFAULTS, annotations=dict(_AUTOUPDATE)),
                "rules": rules,
            }
        bindings = self._store[(RBAC_GROUP, "clusterrolebindings")]
        for name, (role, groups) in DEFAULT_CLUSTER_ROLE_BINDINGS.items():
            bindings[("", name)] = {
                "metadata": self._meta(name, **_DEFAULTS, annotations=dict(_AUTOUPDATE)),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
            }

    # ---- the decision -------------------------------------------------------------------------
    def _rbac_rules(self, user: str, groups: tuple[str, ...], namespace: str) -> list[dict]:
        """Every rule bound to the user in this namespace ("" : the cluster-wide ones only)."""

        def bound(binding: dict) -> bool:
            for subject in binding.get("subjects") or []:
                kind, name = subject.get("kind"), subject.get("name")
                if (kind == "User" and name == user) or (kind == "Group" and name in groups):
                    return True
            return False

        def role_rules(ref: dict, ns: str) -> list[dict]:
            if ref.get("kind") == "ClusterRole":
                role = self._store[(RBAC_GROUP, "clusterroles")].get(("", ref.get("name", "")))
            else:
                role = self._store[(RBAC_GROUP, "roles")].get((ns, ref.get("name", "")))
            return list(role.get("rules") or []) if role else []

        rules: list[dict] = []
        for binding in self._store[(RBAC_GROUP, "clusterrolebindings")].values():
            if bound(binding):
                rules += role_rules(binding.get("roleRef") or {}, "")
        if namespace:
            for (ns, _), binding in self._store[(RBAC_GROUP, "rolebindings")].items():
                if ns == namespace and bound(binding):
                    rules += role_rules(binding.get("roleRef") or {}, ns)
        return rules

    def _rbac_allows(self, user: str, groups: tuple[str, ...], attrs: Attributes) -> bool:
        resource = attrs.full_resource
        return any(
            _rule_matches(rule, attrs, resource) for rule in self._rbac_rules(user, groups, attrs.namespace)
        )

    def _rbac_covers(self, user: str, groups: tuple[str, ...], namespace: str, rules: list[dict]) -> bool:
        """Whether the user holds every permission of these rules (escalation prevention)."""
        for rule in rules:
            if rule.get("nonResourceURLs"):
                continue
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    base, _, sub = resource.partition("/")
                    for verb in rule.get("verbs") or []:
                        names = rule.get("resourceNames") or [""]
                        for name in names:
                            attrs = Attributes(verb, group, base, sub, namespace, name)
                            if not self._rbac_allows(user, groups, attrs):
                                return False
        return True

    def _rbac_escalation(self, user: str, groups: tuple[str, ...], attrs: Attributes, body: dict) -> bool:
        """Whether writing this Role or binding would grant permissions the user does not hold."""
        namespace = attrs.namespace
        if attrs.resource in ("roles", "clusterroles"):
            if self._rbac_allows(user, groups, Attributes("escalate", *self._target(attrs))):
                return False
            return not self._rbac_covers(user, groups, namespace, list(body.get("rules") or []))
        if attrs.resource in ("rolebindings", "clusterrolebindings"):
            ref = body.get("roleRef") or {}
            kind = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            bind = Attributes("bind", RBAC_GROUP, kind, "", namespace, str(ref.get("name") or ""))
            if self._rbac_allows(user, groups, bind):
                return False
            store = self._store[(RBAC_GROUP, kind)]
            role = store.get(("" if kind == "clusterroles" else namespace, str(ref.get("name") or "")))
            return not self._rbac_covers(user, groups, namespace, list((role or {}).get("rules") or []))
        return False

    @staticmethod
    def _target(attrs: Attributes) -> tuple[str, str, str, str, str]:
        return (attrs.group, attrs.resource, "", attrs.namespace, attrs.name)

    # ---- object hooks ---------------------------------------------------------------------------
    def _check_rules(self, kind: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        causes = []
        if not _DNS1123_SUBDOMAIN.fullmatch(name) and ":" not in name:
            causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}"'))
        for i, rule in enumerate(obj.get("rules") or []):
            if not isinstance(rule, dict) or not rule.get("verbs"):
                causes.append(
                    (
                        f"rules[{i}].verbs",
                        "FieldValueRequired",
                        "Required value: verbs must contain at least one value",
                    )
                )
            elif rule.get("nonResourceURLs") and kind == "Role":
                causes.append(
                    (
                        f"rules[{i}].nonResourceURLs",
                        "FieldValueInvalid",
                        "Invalid value: namespaced rules cannot apply to non-resource URLs",
                    )
                )
            elif not rule.get("nonResourceURLs") and not rule.get("resources"):
                causes.append(
                    (
                        f"rules[{i}].resources",
                        "FieldValueRequired",
                        "Required value: resource rules must supply at least one resource",
                    )
                )
        if causes:
            raise invalid(kind, RBAC_GROUP, name, causes)

    def _check_binding(self, kind: str, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        causes = []
        ref = obj.get("roleRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            causes.append(("roleRef.name", "FieldValueRequired", "Required value"))
        elif ref.get("kind") not in _ROLE_REF_KINDS or (
            kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole"
        ):
            causes.append(
                ("roleRef.kind", "FieldValueNotSupported", f'Unsupported value: "{ref.get("kind")}"')
            )
        elif ref.get("apiGroup") != RBAC_GROUP:
            causes.append(
                ("roleRef.apiGroup", "FieldValueNotSupported", f'Unsupported value: "{ref.get("apiGroup")}"')
            )
        elif old is not None and ref != old.get("roleRef"):
            causes.append(("roleRef", "FieldValueInvalid", "Invalid value: cannot change roleRef"))
        for i, subject in enumerate(obj.get("subjects") or []):
            if not isinstance(subject, dict) or subject.get("kind") not in _SUBJECT_KINDS:
                kind_of = subject.get("kind") if isinstance(subject, dict) else subject
                causes.append(
                    (f"subjects[{i}].kind", "FieldValueNotSupported", f'Unsupported value: "{kind_of}"')
                )
            elif not subject.get("name"):
                causes.append((f"subjects[{i}].name", "FieldValueRequired", "Required value"))
        if causes:
            raise invalid(kind, RBAC_GROUP, name, causes)

    def _validate_role(self, obj: dict, old: dict | None) -> None:
        self._check_rules("Role", obj)

    def _validate_clusterrole(self, obj: dict, old: dict | None) -> None:
        self._check_rules("ClusterRole", obj)

    def _validate_rolebinding(self, obj: dict, old: dict | None) -> None:
        self._check_binding("RoleBinding", obj, old)

    def _validate_clusterrolebinding(self, obj: dict, old: dict | None) -> None:
        self._check_binding("ClusterRoleBinding", obj, old)

    def _default_role(self, obj: dict, old: dict | None) -> None:
        obj.setdefault("rules", [])

    _default_clusterrole = _default_role

    def _default_rolebinding(self, obj: dict, old: dict | None) -> None:
        obj.pop("status", None)

    _default_clusterrolebinding = _default_rolebinding

    def _after_write_role(self, obj: dict, old: dict | None, callbacks) -> None:
        pass

    _after_write_clusterrole = _after_write_rolebinding = _after_write_clusterrolebinding = _after_write_role
