"""Deployments and their ReplicaSets: the deployment and replica set controllers."""

from __future__ import annotations

import copy
import hashlib
import json

from emulator.kubernetes.errors import invalid
from emulator.kubernetes.objects import _NAME_ALPHABET
from emulator.kubernetes.selectors import equality_requirements, labels_match, selector_string
from emulator.kubernetes.validation import _DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG, pod_template_causes


class _Deployments:
    """Deployment hooks and the controllers that roll out ReplicaSets."""

    def _validate_deployment(self, obj: dict, old: dict | None) -> None:
        meta, spec = obj["metadata"], obj.get("spec")
        name = meta["name"]
        causes: list[tuple[str, str, str]] = []
        if not _DNS1123_SUBDOMAIN.fullmatch(name) or len(name) > 253:
            causes.append(
                ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}')
            )
        if not isinstance(spec, dict):
            causes.append(("spec", "FieldValueRequired", "Required value"))
            raise invalid("Deployment", "apps", name, causes)
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.append(
                (
                    "spec.replicas",
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                )
            )
        selector = spec.get("selector")
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        tlabels = (template.get("metadata") or {}).get("labels") or {}
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            causes.append(
                (
                    "spec.selector",
                    "FieldValueInvalid",
                    'Invalid value: "null": empty selector is invalid for deployment',
                )
            )
        else:
            if not labels_match(tlabels, equality_requirements(selector.get("matchLabels") or {})):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(tlabels)}: `selector` does not match template `labels`",
                    )
                )
            if old is not None and selector != old["spec"].get("selector"):
                causes.append(
                    (
                        "spec.selector",
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(selector)}: field is immutable",
                    )
                )
        causes += pod_template_causes(template.get("spec") or {}, "spec.template.spec")
        if causes:
            raise invalid("Deployment", "apps", name, causes)

    def _default_deployment(self, obj: dict, old: dict | None) -> None:
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault(
            "strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        )
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        template = spec["template"]
        template.setdefault("metadata", {})
        template["metadata"].setdefault("creationTimestamp", None)
        template.setdefault("spec", {})
        self._default_pod_spec(template["spec"])
        if old is None:
            obj["metadata"].setdefault("annotations", {})
            obj["status"] = {}
        else:
            obj["metadata"].setdefault("annotations", {})
            obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = (
                old["metadata"].get("annotations") or {}
            ).get("deployment.kubernetes.io/revision", "1")

    def _after_write_deployment(self, obj: dict, old: dict | None, callbacks) -> None:
        self._reconcile_deployment(obj)

    def _template_hash(self, template: dict) -> str:
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
        n = int.from_bytes(digest[:8], "big")
        out = ""
        for _ in range(10):
            n, r = divmod(n, len(_NAME_ALPHABET))
            out += _NAME_ALPHABET[r]
        return out

    def _reconcile_all_deployments(self) -> None:
        for dep in list(self._store[("apps", "deployments")].values()):
            self._reconcile_deployment(dep)

    def _owned_replicasets(self, dep: dict) -> list[dict]:
        ns = dep["metadata"]["namespace"]
        return [
            rs
            for k, rs in self._store[("apps", "replicasets")].items()
            if k[0] == ns and self._owned_by(rs, dep)
        ]

    def _rs_pods(self, rs: dict) -> list[tuple[tuple[str, str], dict]]:
        ns = rs["metadata"]["namespace"]
        return [(k, p) for k, p in self._store[("", "pods")].items() if k[0] == ns and self._owned_by(p, rs)]

    def _is_ready(self, key: tuple[str, str]) -> bool:
        rt = self._pods_rt.get(key)
        return rt is not None and rt.ready_at is not None

    def _new_replicaset(self, dep: dict) -> dict:
        """The ReplicaSet of the current template, created (at 0 replicas) when the template is new."""
        meta, spec = dep["metadata"], dep["spec"]
        ns, name = meta["namespace"], meta["name"]
        tmpl_hash = self._template_hash(spec["template"])
        rs_name = f"{name}-{tmpl_hash}"
        rs_store = self._store[("apps", "replicasets")]
        owned = self._owned_replicasets(dep)
        top = max(
            (int(r["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")) for r in owned),
            default=0,
        )
        rs = rs_store.get((ns, rs_name))
        if rs is None:
            labels = dict((spec["template"].get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = tmpl_hash
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = tmpl_hash
            template = copy.deepcopy(spec["template"])
            template["metadata"]["labels"] = labels
            rs = {
                "metadata": self._meta(
                    rs_name,
                    ns,
                    labels=labels,
                    annotations={"deployment.kubernetes.io/revision": str(top + 1)},
                    ownerReferences=[self._owner_ref("apps/v1", "Deployment", dep)],
                    generation=1,
                ),
                "spec": {"replicas": 0, "selector": selector, "template": template},
                "status": {"replicas": 0, "observedGeneration": 1},
            }
            rs_store[(ns, rs_name)] = rs
        elif int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")) < top:
            # Rolling back to an older template re-adopts its ReplicaSet under a new revision.
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(top + 1)
            rs["metadata"]["resourceVersion"] = self._next_rv()
        annotations = meta.setdefault("annotations", {})
        revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        if annotations.get("deployment.kubernetes.io/revision") != revision:
            annotations["deployment.kubernetes.io/revision"] = revision
            if "resourceVersion" in meta:
                meta["resourceVersion"] = self._next_rv()
        return rs

    def _scale_replicaset(self, dep: dict, rs: dict, replicas: int) -> None:
        current = rs["spec"].get("replicas", 0)
        if current == replicas:
            return
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        desired = dep["spec"]["replicas"]
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(desired)
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = str(
            desired + self._max_surge(dep["spec"], desired)
        )
        rs["metadata"]["resourceVersion"] = self._next_rv()
        verb = "up" if replicas > current else "down"
        self._event(
            dep,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {verb} replica set {rs['metadata']['name']} from {current} to {replicas}",
            self._now(),
            kind="Deployment",
            api_version="apps/v1",
            source="deployment-controller",
        )

    def _reconcile_deployment(self, dep: dict) -> None:
        """The deployment controller: a ReplicaSet per template, rolled out within maxSurge/maxUnavailable."""
        spec = dep["spec"]
        desired = spec["replicas"]
        new_rs = self._new_replicaset(dep)
        old = [rs for rs in self._owned_replicasets(dep) if rs is not new_rs]
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if not any(rs["spec"].get("replicas", 0) or self._rs_pods(rs) for rs in old):
            self._scale_replicaset(dep, new_rs, desired)
        elif strategy == "Recreate":
            for rs in old:
                self._scale_replicaset(dep, rs, 0)
            if not any(self._rs_pods(rs) for rs in old):
                self._scale_replicaset(dep, new_rs, desired)
        else:
            surge = self._max_surge(spec, desired)
            unavailable = self._max_unavailable(spec, desired)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            total = sum(rs["spec"].get("replicas", 0) for rs in [new_rs, *old])
            room = desired + surge - total
            if room > 0 and new_rs["spec"].get("replicas", 0) < desired:
                self._scale_replicaset(dep, new_rs, min(desired, new_rs["spec"].get("replicas", 0) + room))
            elif new_rs["spec"].get("replicas", 0) > desired:
                self._scale_replicaset(dep, new_rs, desired)
            # Old pods that are not ready cost no availability: they go first; ready ones only while
            # enough ready pods remain.
            ready_total = sum(1 for rs in [new_rs, *old] for k, _ in self._rs_pods(rs) if self._is_ready(k))
            budget = ready_total - (desired - unavailable)
            for rs in old:
                pods = self._rs_pods(rs)
                unready = sum(1 for k, _ in pods if not self._is_ready(k))
                target = rs["spec"].get("replicas", 0)
                drop = min(target, unready)
                target -= drop
                take = max(0, min(target, budget))
                target -= take
                budget -= take
                self._scale_replicaset(dep, rs, target)
        for rs in [new_rs, *old]:
            self._sync_replicaset(rs, dep)

    def _sync_replicaset(self, rs: dict, dep: dict) -> None:
        """The ReplicaSet controller: pods to match spec.replicas (not-ready and youngest go first)."""
        want = rs["spec"].get("replicas", 0)
        pods = self._rs_pods(rs)
        if len(pods) > want:
            pods.sort(key=lambda kp: (self._is_ready(kp[0]), -self._pods_rt[kp[0]].created))
            for key, _pod in pods[: len(pods) - want]:
                self._forget_pod(*key)
        for _ in range(want - len(pods)):
            self._create_pod(rs, dep)

    def _delete_deployment_children(self, ns: str, name: str) -> None:
        rs_store = self._store[("apps", "replicasets")]
        for key, rs in list(rs_store.items()):
            refs = rs["metadata"].get("ownerReferences") or []
            if key[0] == ns and any(r.get("kind") == "Deployment" and r.get("name") == name for r in refs):
                for pkey, pod in list(self._store[("", "pods")].items()):
                    if pkey[0] == ns and self._owned_by(pod, rs):
                        self._forget_pod(*pkey)
                self._remove(("apps", "replicasets"), key)

    def _scale_of(self, dep: dict) -> dict:
        meta = dep["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": dep["spec"]["replicas"]},
            "status": {
                "replicas": (dep.get("status") or {}).get("replicas", 0),
                "selector": selector_string((dep["spec"].get("selector") or {}).get("matchLabels") or {}),
            },
        }

    @staticmethod
    def _percent_or_int(value: object, desired: int, round_up: bool) -> int:
        if isinstance(value, str) and value.endswith("%"):
            exact = desired * int(value[:-1]) / 100
            return int(-(-exact // 1)) if round_up else int(exact)
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return 0

    @classmethod
    def _max_unavailable(cls, spec: dict, desired: int) -> int:
        value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        return cls._percent_or_int(value, desired, round_up=False)

    @classmethod
    def _max_surge(cls, spec: dict, desired: int) -> int:
        value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
        return cls._percent_or_int(value, desired, round_up=True)
