"""Deployment and ReplicaSet status derived from the pods."""

from __future__ import annotations


class _Rollouts:
    """Status and conditions of a rollout."""

    def _refresh_deployment(self, dep: dict, now: float) -> None:
        self._reconcile_deployment(dep)
        meta, spec = dep["metadata"], dep["spec"]
        new_rs = self._new_replicaset(dep)
        rs_name = new_rs["metadata"]["name"]
        all_rs = self._owned_replicasets(dep)
        for rs in all_rs:
            pods = self._rs_pods(rs)
            n_ready = sum(1 for k, _ in pods if self._is_ready(k))
            rs_status = {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
            if n_ready:
                rs_status["readyReplicas"] = n_ready
                rs_status["availableReplicas"] = n_ready
            if rs.get("status") != rs_status:
                rs["status"] = rs_status
                rs["metadata"]["resourceVersion"] = self._next_rv()
        pods = [kp for rs in all_rs for kp in self._rs_pods(rs)]
        updated = self._rs_pods(new_rs)
        ready = [k for k, _ in pods if self._is_ready(k)]
        desired = spec["replicas"]
        status: dict = {"observedGeneration": meta.get("generation", 1)}
        if pods:
            status["replicas"] = len(pods)
        if updated:
            status["updatedReplicas"] = len(updated)
        if ready:
            status["readyReplicas"] = len(ready)
            status["availableReplicas"] = len(ready)
        if desired - len(ready) > 0:
            status["unavailableReplicas"] = desired - len(ready)
        old_conds = {c["type"]: c for c in (dep.get("status") or {}).get("conditions") or []}
        available = len(ready) >= desired - self._max_unavailable(spec, desired)
        last_ready = max((self._pods_rt[k].ready_at or now for k in ready), default=now)

        def cond(ctype: str, ok: bool, reason: str, message: str, at: float) -> dict:
            prev = old_conds.get(ctype)
            st = "True" if ok else "False"
            ts = self._ts(at)
            if prev and prev["status"] == st and prev["reason"] == reason:
                return prev
            return {
                "type": ctype,
                "status": st,
                "lastUpdateTime": ts,
                "lastTransitionTime": prev["lastTransitionTime"] if prev and prev["status"] == st else ts,
                "reason": reason,
                "message": message,
            }

        conds = [
            cond(
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                last_ready if available else now,
            )
        ]
        updated_ready = sum(1 for k, _ in updated if self._is_ready(k))
        progressing = old_conds.get("Progressing")
        complete = updated_ready >= desired and len(pods) == desired
        if complete:
            conds.append(
                cond(
                    "Progressing",
                    True,
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    last_ready,
                )
            )
        else:
            # The deadline runs from the last progress the rollout made.
            since = self._progress_mark.setdefault((meta["namespace"], meta["name"], rs_name), (now, -1))
            mark = (len(updated), updated_ready)
            if since[1] != mark:
                self._progress_mark[(meta["namespace"], meta["name"], rs_name)] = (now, mark)
                since = (now, mark)
            deadline = (
                spec.get("progressDeadlineSeconds", 600) * self._latency_scale
                if self._latency_scale
                else None
            )
            if deadline is not None and now - since[0] > deadline:
                conds.append(
                    cond(
                        "Progressing",
                        False,
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        since[0] + deadline,
                    )
                )
            elif progressing is None or progressing.get("reason") == "NewReplicaSetCreated" and not pods:
                conds.append(
                    cond(
                        "Progressing",
                        True,
                        "NewReplicaSetCreated",
                        f'Created new replica set "{rs_name}"',
                        now,
                    )
                )
            else:
                conds.append(
                    cond(
                        "Progressing",
                        True,
                        "ReplicaSetUpdated",
                        f'ReplicaSet "{rs_name}" is progressing.',
                        now,
                    )
                )
        status["conditions"] = conds
        if dep.get("status") != status:
            dep["status"] = status
            meta["resourceVersion"] = self._next_rv()
