"""Who may do what: an allowlist of Slack user IDs plus admins (no Prefect, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from chatops.commands import Command

# Commands that act on an existing lab and so need its owner (or an admin).
OWNER_ACTIONS = {"down", "extend"}


class Refused(Exception):
    """The user may not run this command; the message is shown to them."""


def parse_ids(text: str | None) -> frozenset[str]:
    """`U1, U2,,U3` -> {"U1", "U2", "U3"}."""
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True)
class Policy:
    users: frozenset[str]
    admins: frozenset[str]

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def check_user(self, user_id: str, command: Command) -> None:
        """Refuse users outside the allowlist (admins are always allowed); `help` is open to all."""
        if command.action == "help":
            return
        if user_id not in self.users and user_id not in self.admins:
            raise Refused(
                f"you (<@{user_id}>) are not allowed to run lab commands: ask an admin to add your Slack "
                "user ID to GKE_LAB_CHATOPS_USERS"
            )

    def check_owner(self, user_id: str, command: Command, owner: str | None) -> None:
        """`down`/`extend` of a lab: only its owner or an admin. An unknown owner means admins only."""
        if command.action not in OWNER_ACTIONS or self.is_admin(user_id) or owner == user_id:
            return
        who = f"<@{owner}>" if owner else "someone outside chat (no recorded owner)"
        raise Refused(
            f"lab `{command.lab}` belongs to {who}: only its owner or an admin can {command.action} it"
        )
