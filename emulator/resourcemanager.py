"""Resource Manager v3: projects and project IAM policies."""

from __future__ import annotations

from typing import Any

from emulator.clock import rfc3339
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Policy, Project


def seed_policy(project: Project) -> None:
    """A new project's policy: an owner and the Google APIs service agent; the service agents' roles are
    granted when their API is enabled (emulator/serviceusage.py)."""
    now = project.backend.clock.now()
    cloudservices = f"serviceAccount:{project.number}@cloudservices.gserviceaccount.com"
    if project.defaults == "legacy":  # an old project: its APIs were enabled long ago
        bindings = [
            {"role": "roles/compute.serviceAgent", "members": [f"serviceAccount:{project.compute_agent}"]},
            {"role": "roles/container.serviceAgent", "members": [f"serviceAccount:{project.gke_agent}"]},
            {
                "role": "roles/editor",
                "members": [f"serviceAccount:{project.compute_default_sa}", cloudservices],
            },
        ]
    else:
        bindings = [{"role": "roles/editor", "members": [cloudservices]}]
    bindings.append({"role": "roles/owner", "members": ["user:owner@example.com"]})
    project.policy = Policy(f"projects/{project.id}", bindings, now=now)


class ResourceManagerService:
    def __init__(self, backend: Backend, iam: Any) -> None:
        self.backend = backend
        self.iam = iam

    def get_project(self, project: Project) -> dict[str, Any]:
        return {
            "name": f"projects/{project.number}",
            "parent": "organizations/123456789012",
            "projectId": project.id,
            "state": "ACTIVE",
            "displayName": project.id,
            "createTime": rfc3339(project.create_time),
            "updateTime": rfc3339(project.create_time),
            "etag": f'W/"{project.number:x}"',
        }

    def get_iam_policy(self, project: Project, body: Any) -> dict[str, Any]:
        options = ((body or {}).get("options") or {}) if isinstance(body, dict) else {}
        with project.locked():
            return project.policy.read(options.get("requestedPolicyVersion"))

    def test_iam_permissions(self, project: Project, body: Any) -> dict[str, Any]:
        """The emulator's caller owns every project: it holds every permission it asks about."""
        permissions = (body or {}).get("permissions") or [] if isinstance(body, dict) else []
        return {"permissions": list(permissions)} if permissions else {}

    def set_iam_policy(self, project: Project, body: Any) -> dict[str, Any]:
        policy = (body or {}).get("policy") or {}
        self.backend.clock.sleep("setIamPolicy")
        with project.locked():
            return project.policy.set(
                policy,
                now=self.backend.clock.now(),
                delay=self.backend.clock.duration("iam.propagation"),
                check_member=self.iam.check_member,
            )

    def routes(self) -> ServiceRoutes:
        return ServiceRoutes(
            api="cloudresourcemanager",
            service="cloudresourcemanager.googleapis.com",
            prefix="/v3/projects/{project}",
            routes=(
                # projects.get and testIamPermissions answer while the API is disabled, so that a caller can
                # always find its project and what it may do (and then enable services)
                Route("GET", "", self.get_project, always_on=True),
                Route("POST", ":testIamPermissions", self.test_iam_permissions, always_on=True),
                Route("POST", ":getIamPolicy", self.get_iam_policy),
                Route("POST", ":setIamPolicy", self.set_iam_policy),
            ),
        )
