"""Pods: creation by the ReplicaSet controller, image pulls, readiness and logs."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from emulator.kube_server import Response, status_error
from emulator.kubernetes.images import (
    SCHEMA1_REFUSED,
    image_reference_parts,
    image_registry,
    is_google_registry,
    is_schema1,
)
from emulator.kubernetes.objects import KINDS


@dataclass
class _PodRun:
    """Lifecycle bookkeeping of one pod (monotonic seconds)."""

    created: float
    ready_delay: float
    endpoints_delay: float
    fail_delay: float
    pull_start: float | None  # when a pull that will succeed started
    ready_at: float | None = None
    failed_at: float | None = None  # first failed pull
    backoff_noted: bool = False
    logs: list[str] = field(default_factory=list)  # the container's stdout (nginx access log)
    repeating: list[tuple[str, str]] = field(default_factory=list)  # events a failing pull repeats


class _Pods:
    """Pod lifecycle as the kubelet reports it."""

    def _default_pod_spec(self, spec: dict) -> None:
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        for c in spec.get("containers") or []:
            tag = image_reference_parts(c.get("image", ""))[2]
            c.setdefault("imagePullPolicy", "Always" if tag == "latest" else "IfNotPresent")
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            for p in c.get("ports") or []:
                p.setdefault("protocol", "TCP")

    def _create_pod(self, rs: dict, dep: dict) -> None:
        ns = rs["metadata"]["namespace"]
        template = copy.deepcopy(rs["spec"]["template"])
        while True:
            name = f"{rs['metadata']['name']}-{self._suffix()}"
            if (ns, name) not in self._store[("", "pods")]:
                break
        node = self._pick_node(rs["metadata"]["uid"])
        now = self._now()
        pod_spec = template.get("spec") or {}
        pod_spec["nodeName"] = node
        pod_spec.setdefault("serviceAccountName", "default")
        pod_spec.setdefault("serviceAccount", "default")
        pod_spec.setdefault("enableServiceLinks", True)
        pod_spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        pod_spec.setdefault("priority", 0)
        pod_spec.setdefault(
            "tolerations",
            [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        )
        node_obj = self._store[("", "nodes")].get(("", node))
        host_ip = ""
        if node_obj:
            host_ip = next(
                (a["address"] for a in node_obj["status"]["addresses"] if a["type"] == "InternalIP"), ""
            )
        pod_ip = self._alloc_pod_ip(node)
        meta = self._meta(
            name,
            ns,
            generateName=rs["metadata"]["name"] + "-",
            labels=dict((template.get("metadata") or {}).get("labels") or {}),
            ownerReferences=[self._owner_ref("apps/v1", "ReplicaSet", rs)],
        )
        ready_delay = self._safe_delay("pod.ready")
        pod = {
            "metadata": meta,
            "spec": pod_spec,
            "status": {
                "phase": "Pending",
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}] if host_ip else [],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}] if pod_ip else [],
                "startTime": self._ts(now),
                "qosClass": "BestEffort",
            },
        }
        self._store[("", "pods")][(ns, name)] = pod
        images = [c.get("image", "") for c in pod_spec.get("containers") or []]
        pullable = all(self._can_pull(img, self._egress) for img in images)
        self._pods_rt[(ns, name)] = _PodRun(
            created=now,
            ready_delay=ready_delay,
            endpoints_delay=self._safe_delay("endpoints.ready"),
            fail_delay=max(ready_delay * 0.25, 0.0),
            pull_start=now if pullable else None,
        )
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns}/{name} to {node}",
            now,
            source="default-scheduler",
        )
        for img in images:
            self._event(pod, "Normal", "Pulling", f'Pulling image "{img}"', now)
        self._event(
            rs,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {name}",
            now,
            kind="ReplicaSet",
            api_version="apps/v1",
            source="replicaset-controller",
        )
        self._refresh_pod((ns, name), pod, self._egress, now)

    def _forget_pod(self, ns: str, name: str) -> None:
        pod = self._remove(("", "pods"), (ns, name))
        self._pods_rt.pop((ns, name), None)
        if pod is not None:
            self._used_ips.discard(pod["status"].get("podIP", ""))

    def _can_reach(self, image: str, egress: bool) -> bool:
        return (not self.private_nodes) or egress or is_google_registry(image)

    def _can_pull(self, image: str, egress: bool) -> bool:
        return self._can_reach(image, egress) and not (self.refuses_schema1 and is_schema1(image))

    def _pull_failure_message(self, pod: dict, image: str) -> str:
        if self._can_reach(image, self._egress) and self.refuses_schema1 and is_schema1(image):
            # containerd 2 (GKE 1.33+ nodes) refuses Docker schema 1 images
            # (https://cloud.google.com/kubernetes-engine/docs/deprecations/migrate-containerd-2)
            return (
                f'Failed to pull image "{image}": failed to pull and unpack image "{image}": '
                + SCHEMA1_REFUSED
            )
        registry, repo, tag = image_reference_parts(image)
        host = "registry-1.docker.io" if registry == "docker.io" else registry
        ref = image if "/" in image and image_registry(image) != "docker.io" else f"docker.io/{repo}:{tag}"
        if image_registry(image) == "docker.io" and image.startswith("docker.io/"):
            ref = image
        node = pod["spec"].get("nodeName", "")
        return (
            f'Failed to pull image "{image}": failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": failed to do request: Head "https://{host}/v2/{repo}/manifests/{tag}": '
            f"dial tcp: lookup {host}: i/o timeout (node {node} is a private node with no route to the "
            f"internet: the region has no Cloud NAT, and only Google registries such as gcr.io and "
            f"*.pkg.dev are reachable through Private Google Access)"
        )

    def _refresh_pod(self, key: tuple[str, str], pod: dict, egress: bool, now: float) -> None:
        rt = self._pods_rt.get(key)
        if rt is None:
            return
        containers = pod["spec"].get("containers") or []
        images = [c.get("image", "") for c in containers]
        if rt.ready_at is None:
            if rt.pull_start is None and all(self._can_pull(i, egress) for i in images):
                rt.pull_start = now  # egress appeared (Cloud NAT added): the next back-off retry succeeds
                for img in images:
                    self._event(pod, "Normal", "Pulling", f'Pulling image "{img}"', now)
            if rt.pull_start is None and rt.failed_at is None and now >= rt.created + rt.fail_delay:
                rt.failed_at = rt.created + rt.fail_delay
                for img in images:
                    if not self._can_pull(img, egress):
                        rt.repeating.append(
                            self._event(
                                pod, "Warning", "Failed", self._pull_failure_message(pod, img), rt.failed_at
                            )
                        )
                rt.repeating.append(
                    self._event(pod, "Warning", "Failed", "Error: ErrImagePull", rt.failed_at)
                )
            if (
                rt.pull_start is None
                and rt.failed_at is not None
                and not rt.backoff_noted
                and (now >= rt.failed_at + rt.fail_delay)
            ):
                rt.backoff_noted = True
                at = rt.failed_at + rt.fail_delay
                for img in images:
                    if not self._can_pull(img, egress):
                        rt.repeating.append(
                            self._event(pod, "Normal", "BackOff", f'Back-off pulling image "{img}"', at)
                        )
                rt.repeating.append(self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", at))
            if rt.pull_start is None and rt.backoff_noted:
                self._count_retries(rt, now)
            if rt.pull_start is not None and now >= rt.pull_start + rt.ready_delay:
                rt.ready_at = rt.pull_start + rt.ready_delay
                pulled = rt.pull_start + rt.ready_delay * 0.9
                for c in containers:
                    img = c.get("image", "")
                    self._event(
                        pod,
                        "Normal",
                        "Pulled",
                        f'Successfully pulled image "{img}" in '
                        f"{rt.ready_delay * 0.9:.3f}s (including waiting)",
                        pulled,
                    )
                    self._event(
                        pod, "Normal", "Created", f"Created container: {c.get('name', '')}", rt.ready_at
                    )
                    self._event(
                        pod, "Normal", "Started", f"Started container {c.get('name', '')}", rt.ready_at
                    )
        status = self._pod_status(pod, rt, now)
        if status != pod["status"]:
            pod["status"] = status
            pod["metadata"]["resourceVersion"] = self._next_rv()

    def _count_retries(self, rt: _PodRun, now: float) -> None:
        """The kubelet retries a failing pull with back-off (10 s doubling to 300 s at scale 1): the
        pod's failure events repeat, which the API shows as a growing count."""
        unit = 2 * rt.fail_delay
        if unit <= 0 or rt.failed_at is None:
            return
        start = rt.failed_at + rt.fail_delay
        retries, step, last = 0, unit, start
        while last + step <= now and retries < 10_000:
            last += step
            retries += 1
            step = min(step * 2, 30 * unit)
        for key in rt.repeating:
            event = self._store[("", "events")].get(key)
            if event is None or event["count"] == retries + 1:
                continue
            event["count"] = retries + 1
            event["lastTimestamp"] = self._ts(last)
            event["metadata"]["resourceVersion"] = self._next_rv()

    def _pod_status(self, pod: dict, rt: _PodRun, now: float) -> dict:
        old = pod["status"]
        containers = pod["spec"].get("containers") or []
        created_ts = self._ts(rt.created)
        status = {
            k: old[k] for k in ("hostIP", "hostIPs", "podIP", "podIPs", "startTime", "qosClass") if k in old
        }
        ready = rt.ready_at is not None
        ready_ts = self._ts(rt.ready_at) if ready else created_ts
        statuses = []
        for c in containers:
            image = c.get("image", "")
            registry, repo, tag = image_reference_parts(image)
            cs: dict = {
                "name": c.get("name", ""),
                "image": image,
                "imageID": (f"{registry}/{repo}@sha256:" + hashlib.sha256(image.encode()).hexdigest())
                if ready
                else "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
                "lastState": {},
            }
            if ready:
                cs["state"] = {"running": {"startedAt": ready_ts}}
                cs["containerID"] = (
                    "containerd://"
                    + hashlib.sha256((pod["metadata"]["uid"] + cs["name"]).encode()).hexdigest()
                )
            elif rt.pull_start is None and rt.failed_at is not None:
                reason = "ImagePullBackOff" if rt.backoff_noted else "ErrImagePull"
                message = (
                    (
                        f'Back-off pulling image "{image}": ErrImagePull: '
                        + self._pull_failure_message(pod, image)
                    )
                    if rt.backoff_noted
                    else self._pull_failure_message(pod, image)
                )
                cs["state"] = {"waiting": {"reason": reason, "message": message}}
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        unready = [c.get("name", "") for c in containers] if not ready else []

        def cond(
            ctype: str, ok: bool, ts: str, reason: str | None = None, message: str | None = None
        ) -> dict:
            c = {
                "type": ctype,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": ts,
            }
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        unready_msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        status["phase"] = "Running" if ready else "Pending"
        status["conditions"] = [
            cond("PodReadyToStartContainers", True, created_ts),
            cond("Initialized", True, created_ts),
            cond("Ready", ready, ready_ts, None if ready else "ContainersNotReady", unready_msg),
            cond("ContainersReady", ready, ready_ts, None if ready else "ContainersNotReady", unready_msg),
            cond("PodScheduled", True, created_ts),
        ]
        status["containerStatuses"] = statuses
        return status

    def _pod_log(self, ns: str, name: str, query: dict) -> Response:
        pod = self._get(KINDS[("", "pods")], ns, name)
        rt = self._pods_rt.get((ns, name))
        containers = [c.get("name", "") for c in pod["spec"].get("containers") or []]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            return status_error(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
            )
        if container not in containers:
            return status_error(400, "BadRequest", f"container {container} is not valid for pod {name}")
        if rt is None or rt.ready_at is None:
            waiting = "ContainerCreating"
            if rt is not None and rt.pull_start is None and rt.failed_at is not None:
                waiting = "trying and failing to pull image"
            return status_error(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: {waiting}',
            )
        lines = rt.logs
        tail = query.get("tailLines")
        if tail is not None and tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        return Response(200, "".join(lines).encode(), "text/plain")

    def _validate_pod(self, obj: dict, old: dict | None) -> None:
        pass

    def _default_pod(self, obj: dict, old: dict | None) -> None:
        pass

    def _after_write_pod(self, obj: dict, old: dict | None, callbacks) -> None:
        pass
