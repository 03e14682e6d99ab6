"""Resource Manager v3: projects and project IAM policies."""

from __future__ import annotations

from typing import Any

from emulator.clock import rfc3339
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Policy, Project


def seed_policy(project: Project) -> None:
    """A new project's policy: an owner and the Google-managed service agents' roles."""
    now = project.backend.clock.now()
    project.policy = Policy(
        f"projects/{project.id}",
        [
            {"role": "roles/compute.serviceAgent", "members": [f"serviceAccount:{project.compute_agent}"]},
            {"role": "roles/container.serviceAgent", "members": [f"serviceAccount:{project.gke_agent}"]},
            {
                "role": "roles/editor",
                "members": [
                    f"serviceAccount:{project.compute_default_sa}",
                    f"serviceAccount:{project.number}@cloudservices.gserviceaccount.com",
                ],
            },
            {"role": "roles/owner", "members": ["user:owner@example.com"]},
        ],
        now=now,
    )


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

    def get_iam_policy(self, project: Project) -> dict[str, Any]:
        with project.locked():
            return project.policy.to_json()

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
            prefix="/v3/projects/{project}",
            routes=(
                Route("GET", "", self.get_project),
                Route("POST", ":getIamPolicy", self.get_iam_policy),
                Route("POST", ":setIamPolicy", self.set_iam_policy),
            ),
        )
