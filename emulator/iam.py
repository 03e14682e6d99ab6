"""IAM: service accounts and the rules for policy members (who may be named in a binding)."""

from __future__ import annotations

import re
from typing import Any

from emulator.errors import already_exists, invalid, not_found
from emulator.store import Backend, Project, public

ACCOUNT_ID_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
_AGENT_RE = re.compile(r"^service-(\d+)@[a-z0-9-]+\.iam\.gserviceaccount\.com$")
_NUMBERED_RE = re.compile(r"^(\d+)(-compute@developer|@cloudservices)\.gserviceaccount\.com$")
_MEMBER_TYPES = (
    "user:",
    "group:",
    "domain:",
    "deleted:",
    "principal:",
    "principalSet:",
    "projectOwner:",
    "projectEditor:",
    "projectViewer:",
)


class IamService:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- service accounts -------------------------------------------------------------------
    def create(self, project: Project, account_id: str, sa: dict[str, Any]) -> dict[str, Any]:
        if not (6 <= len(account_id) <= 30) or not ACCOUNT_ID_RE.match(account_id):
            raise invalid(
                f"Invalid account ID '{account_id}': it must be 6 to 30 characters of lowercase letters, "
                "digits or hyphens, start with a letter and not end with a hyphen."
            )
        self.backend.clock.sleep("serviceAccounts.create")
        with project.locked():
            email = f"{account_id}@{project.id}.iam.gserviceaccount.com"
            if email in project.service_accounts:
                raise already_exists(
                    f"Service account {account_id} already exists within project projects/{project.id}."
                )
            unique = str(100000000000000000000 + int(project.new_id()) % 899999999999999999999)
            account = {
                "name": f"projects/{project.id}/serviceAccounts/{email}",
                "projectId": project.id,
                "uniqueId": unique,
                "email": email,
                "displayName": sa.get("displayName", ""),
                "description": sa.get("description", ""),
                "etag": "MDEwMjE5MjA=",
                "oauth2ClientId": unique,
                "disabled": False,
            }
            project.service_accounts[email] = account
            return public(account)

    def _find(self, project: Project, ref: str) -> dict[str, Any]:
        acct = project.service_accounts.get(ref)
        if acct is None:
            acct = next((a for a in project.service_accounts.values() if a["uniqueId"] == ref), None)
        if acct is None:
            raise not_found(f"Unknown service account: projects/{project.id}/serviceAccounts/{ref}")
        return acct

    def resolve(self, name: str) -> tuple[Project, str]:
        """`projects/{p|-}/serviceAccounts/{email|uniqueId}` -> (owning project, ref)."""
        m = re.match(r"^projects/([^/]+)/serviceAccounts/([^/]+)$", name)
        if not m:
            raise invalid(f"Invalid service account name '{name}'.")
        pref, ref = m.groups()
        if pref == "-":
            pm = re.match(r"^[^@]+@([a-z][-a-z0-9]+)\.iam\.gserviceaccount\.com$", ref)
            if not pm:
                raise not_found(f"Unknown service account: {name}")
            pref = pm.group(1)
        return self.backend.project(pref), ref

    def get(self, name: str) -> dict[str, Any]:
        project, ref = self.resolve(name)
        with project.locked():
            return public(self._find(project, ref))

    def list(self, project: Project) -> list[dict[str, Any]]:
        with project.locked():
            return [public(a) for a in sorted(project.service_accounts.values(), key=lambda a: a["email"])]

    def delete(self, name: str) -> None:
        project, ref = self.resolve(name)
        self.backend.clock.sleep("serviceAccounts.delete")
        with project.locked():
            acct = self._find(project, ref)
            del project.service_accounts[acct["email"]]

    # ---- members ----------------------------------------------------------------------------
    def account_exists(self, email: str) -> bool:
        """Whether a service-account e-mail names an existing account (user-managed or Google-managed)."""
        m = re.match(r"^[^@]+@([a-z][-a-z0-9]+)\.iam\.gserviceaccount\.com$", email)
        agent = _AGENT_RE.match(email) or _NUMBERED_RE.match(email)
        if agent:
            owner = self.backend.find_project(agent.group(1))
            return owner is not None and email in owner.google_managed_accounts()
        if m:
            project = self.backend.find_project(m.group(1))
            if project is None:
                return False
            with project.locked():
                return email in project.service_accounts
        return False

    def check_member(self, member: str) -> None:
        if member in ("allUsers", "allAuthenticatedUsers"):
            return
        if member.startswith("serviceAccount:"):
            email = member.split(":", 1)[1]
            if not self.account_exists(email):
                raise invalid(f"Service account {email} does not exist.")
            return
        if member.startswith(_MEMBER_TYPES) and "@" in member or member.startswith(("principal", "deleted:")):
            return
        raise invalid(f"Invalid member type in '{member}'.")
