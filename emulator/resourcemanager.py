"""Resource Manager v3: projects, project IAM policies and what the caller may do on a project.

The emulator's operator (emulator/tokens.py: anonymous calls and the product's own tokens) owns every project,
unless the admin API takes permissions away from it on one project (`POST /_emulator/projects/{p}/settings
{"deniedPermissions": [...]}`): then testIamPermissions leaves them out of its answer and the calls that need
them are refused with Google's 403. A named user holds what the roles bound to `user:<email>` in the project's
IAM policy grant (emulator/iam_roles.py), once each grant has propagated."""

from __future__ import annotations

import re
from typing import Any

from emulator.clock import rfc3339
from emulator.errors import ApiError, invalid
from emulator.iam_roles import role_grants
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Policy, Project
from emulator.tokens import OPERATOR, OPERATOR_CALLER, Caller

# service.resource.verb (https://cloud.google.com/iam/docs/permissions-reference); no wildcards
PERMISSION_RE = re.compile(r"^[a-z][a-z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*){2,}$")


def set_denied_permissions(project: Project, permissions: Any) -> None:
    """The admin switch: the caller lacks exactly these permissions on the project from now on."""
    if not isinstance(permissions, list) or not all(
        isinstance(p, str) and PERMISSION_RE.fullmatch(p) for p in permissions
    ):
        raise invalid("deniedPermissions must be a list of permission names such as compute.networks.create")
    project.denied_permissions = set(permissions)


def holds(project: Project, permission: str) -> bool:
    return permission not in project.denied_permissions


def member_holds(project: Project, member: str, permission: str) -> bool:
    """Whether an effective, unconditional binding of the project's policy grants the member the permission
    (a conditional binding grants nothing here: the emulator does not evaluate conditions)."""
    now = project.backend.clock.now()
    return any(
        member in b["members"]
        and "condition" not in b
        and project.policy.is_effective(b["role"], member, now)
        and role_grants(b["role"], permission)
        for b in project.policy.bindings
    )


def caller_holds(project: Project, caller: Caller, permission: str) -> bool:
    """The operator holds what the admin API did not take away; a named user what its roles grant."""
    if caller.operator:
        return holds(project, permission)
    return member_holds(project, caller.member, permission)


def iam_permission_denied(project: Project, permission: str, api: str) -> ApiError:
    """Google's 403 for a caller without an IAM permission on the project: the message says the resource
    may not exist (Google does not tell the two apart), and an ErrorInfo `IAM_PERMISSION_DENIED` names the
    permission (https://cloud.google.com/resource-manager/docs/access-control-proj)."""
    resource = f"projects/{project.id}"
    return ApiError(
        403,
        f"Permission '{permission}' denied on resource '//{api}/{resource}' (or it may not exist).",
        status="PERMISSION_DENIED",
        reason="forbidden",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": api,
                "metadata": {"permission": permission, "resource": resource},
            }
        ],
    )


def require(project: Project, permission: str, api: str = "cloudresourcemanager.googleapis.com") -> None:
    if not holds(project, permission):
        raise iam_permission_denied(project, permission, api)


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
    # the operator created the project (emulator/tokens.py)
    bindings.append({"role": "roles/owner", "members": [f"user:{OPERATOR}"]})
    project.policy = Policy(f"projects/{project.id}", bindings, now=now)


class ResourceManagerService:
    def __init__(self, backend: Backend, iam: Any) -> None:
        self.backend = backend
        self.iam = iam

    def get_project(self, project: Project) -> dict[str, Any]:
        require(project, "resourcemanager.projects.get")
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
        require(project, "resourcemanager.projects.getIamPolicy")
        with project.locked():
            return project.policy.read(options.get("requestedPolicyVersion"))

    def test_iam_permissions(
        self, project: Project, body: Any, caller: Caller = OPERATOR_CALLER
    ) -> dict[str, Any]:
        """The subset of the asked permissions that the caller holds on the project; asking needs no
        permission, and a wildcard is refused
        (https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions)."""
        permissions = (body or {}).get("permissions") or [] if isinstance(body, dict) else []
        for permission in permissions:
            if not isinstance(permission, str) or not PERMISSION_RE.fullmatch(permission):
                raise invalid(
                    f"Permission {permission} is not valid: permissions with wildcards (such as * or "
                    "storage.*) are not allowed."
                )
        with project.locked():
            held = [p for p in dict.fromkeys(permissions) if caller_holds(project, caller, p)]
        return {"permissions": held} if held else {}

    def set_iam_policy(self, project: Project, body: Any) -> dict[str, Any]:
        policy = (body or {}).get("policy") or {}
        require(project, "resourcemanager.projects.setIamPolicy")
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
                Route("GET", "", self.get_project, always_on=True, permission="resourcemanager.projects.get"),
                Route(
                    "POST", ":testIamPermissions", self.test_iam_permissions, always_on=True, permission="*"
                ),
                Route(
                    "POST",
                    ":getIamPolicy",
                    self.get_iam_policy,
                    permission="resourcemanager.projects.getIamPolicy",
                ),
                Route(
                    "POST",
                    ":setIamPolicy",
                    self.set_iam_policy,
                    permission="resourcemanager.projects.setIamPolicy",
                ),
            ),
        )
