"""The OAuth2 access tokens the emulator's token endpoint issues, and the check a cluster's API server makes.

GKE's API server accepts a Google OAuth2 access token only while Google says it is valid: a token Google
never issued, or one past its expiry, gets 401 Unauthorized (a Kubernetes Status). The emulator's token
endpoint (`POST /token`) plays Google's: a JWT-bearer grant (a service-account key's signed assertion) or a
refresh-token grant (user credentials) gets a `ya29.` token valid for `lifetime` seconds (3600, as Google's;
tests shorten it through `POST /_emulator/tokens`), and every cluster asks `valid` of each bearer token.

Who a token stands for (`Caller`): a token from the product's own grants -- the refresh-token grant of
Application Default Credentials (client "gke-lab", or any other client) and a service-account key's JWT-bearer
grant -- stands for the emulator's operator, the person who created the projects and runs gke-lab against
them: `owner@example.com`, who holds roles/owner in every project's seeded IAM policy (resourcemanager.py),
and a service account's key the runner account that person made an owner; their permissions are those the
admin API has not taken away. A token issued through the admin route `POST /_emulator/identities/token
{"email": ...}` stands for that named user, as that user's `gcloud auth print-access-token` would: the user's
own IAM roles in the project and the cluster's RBAC decide what it may do.

Sources: https://developers.google.com/identity/protocols/oauth2/service-account (the JWT-bearer grant; access
tokens last one hour), https://cloud.google.com/kubernetes-engine/docs/how-to/api-server-authentication (GKE
authenticates Google OAuth2 access tokens), https://kubernetes.io/docs/reference/access-authn-authz/authentication/
(a request whose credentials fail is answered 401; one without credentials is anonymous).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN = "refresh_token"
NAMED_USER = "emulator:named-user"  # the admin route's grant: a named user's own access token
OPERATOR = "owner@example.com"  # the projects' creator, who runs gke-lab (see the module docstring)
# what Google accepts as a user account's e-mail (one @, a dotted domain, no spaces or quotes)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DEFAULT_LIFETIME = 3600.0


class TokenRequestError(Exception):
    """A refused token request, answered 400 with OAuth2's error shape."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.body = {"error": error, "error_description": description}


@dataclass(frozen=True)
class Grant:
    subject: str  # the service account's email (the assertion's issuer), the OAuth client ID, or the user
    grant_type: str
    issued_at: float
    expires_at: float

    @property
    def caller(self) -> Caller:
        if self.grant_type == NAMED_USER:
            return Caller(self.subject, operator=False)
        if self.grant_type == JWT_BEARER:
            return Caller(self.subject, operator=True)
        return Caller(OPERATOR, operator=True)


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the Kubernetes user name (the account's e-mail) and whether it is the
    operator (the product's own caller) or a named user whose IAM roles and RBAC bindings decide."""

    email: str
    operator: bool

    @property
    def member(self) -> str:
        """The IAM policy member naming this caller."""
        kind = "serviceAccount" if self.email.endswith(".gserviceaccount.com") else "user"
        return f"{kind}:{self.email}"


OPERATOR_CALLER = Caller(OPERATOR, operator=True)


def _assertion_issuer(assertion: str) -> str:
    """The `iss` claim of a JWT (the emulator does not check signatures: any key of the account will do)."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise TokenRequestError("invalid_grant", "Invalid JWT: the assertion is not a JWT.") from None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise TokenRequestError("invalid_grant", "Invalid JWT: no issuer.")
    return issuer


class TokenRegistry:
    def __init__(self, lifetime: float = DEFAULT_LIFETIME, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.lifetime = lifetime
        self._tokens: dict[str, Grant] = {}

    def grant(self, form: dict[str, Any]) -> dict[str, Any]:
        """Answer one token request (the form of an OAuth2 token endpoint call)."""
        grant_type = str(form.get("grant_type") or "")
        if grant_type == JWT_BEARER or (not grant_type and form.get("assertion")):
            if not form.get("assertion"):
                raise TokenRequestError("invalid_request", "assertion is required")
            subject = _assertion_issuer(str(form["assertion"]))
        elif grant_type == REFRESH_TOKEN:
            if not form.get("refresh_token"):
                raise TokenRequestError("invalid_request", "refresh_token is required")
            subject = str(form.get("client_id") or "")
        else:
            raise TokenRequestError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        return self.issue(subject, grant_type or JWT_BEARER)

    def issue(self, subject: str, grant_type: str = REFRESH_TOKEN) -> dict[str, Any]:
        token = "ya29.emulator-" + secrets.token_hex(16)
        with self._lock:
            now = self._clock()
            # forget long-expired tokens, so a long-running emulator does not grow without bound
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at > now - 3600}
            self._tokens[token] = Grant(subject, grant_type, now, now + self.lifetime)
            lifetime = self.lifetime
        return {
            "access_token": token,
            "expires_in": max(int(lifetime), 1),
            "token_type": "Bearer",
            "issued_at": int(now),
        }

    def issue_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """The admin route: an access token for a named user (`{"email": ...}`)."""
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not _EMAIL_RE.fullmatch(email):
            raise ValueError("email must be a user's e-mail address such as alice@example.com")
        if email.endswith(".gserviceaccount.com"):
            raise ValueError("email must name a user account, not a service account")
        return {**self.issue(email, NAMED_USER), "email": email}

    def valid(self, token: str) -> bool:
        """Whether the API server accepts this bearer token: issued here and not expired."""
        return self.caller(token) is not None

    def caller(self, token: str) -> Caller | None:
        """Who an accepted bearer token stands for; None when it was not issued here or has expired."""
        with self._lock:
            grant = self._tokens.get(token)
            if grant is None or self._clock() >= grant.expires_at:
                return None
            return grant.caller

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        if "lifetime_seconds" in body:
            lifetime = float(body["lifetime_seconds"])
            if not 0 < lifetime <= 86400:
                raise ValueError("lifetime_seconds must be above 0 and at most 86400")
            with self._lock:
                self.lifetime = lifetime
        return self.describe()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "lifetime_seconds": self.lifetime,
                "grants": [
                    {
                        "subject": g.subject,
                        "grant_type": g.grant_type,
                        "issued_at": g.issued_at,
                        "expires_at": g.expires_at,
                    }
                    for g in self._tokens.values()
                ],
            }
