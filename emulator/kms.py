"""Cloud KMS: key rings, crypto keys, key versions (create, enable/disable, destroy scheduling, primary
changes) and key IAM policies."""

from __future__ import annotations

import re
from typing import Any

from google.cloud import kms_v1

from emulator.clock import rfc3339
from emulator.errors import ApiError, already_exists, invalid, not_found, permission_denied
from emulator.messages import normalize
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Policy, Project

ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
LOCATION_RE = re.compile(r"^(global|[a-z]+(-[a-z]+)*\d*)$")
DEFAULT_DESTROY_DURATION_S = 30 * 24 * 3600
_UPDATABLE = {"labels", "rotationPeriod", "nextRotationTime", "versionTemplate", "versionTemplate.algorithm"}


def _seconds(duration: str) -> float:
    return float(duration.rstrip("s")) if duration else 0.0


def _wrong_state(version: dict[str, Any]) -> ApiError:
    return ApiError(
        400,
        f"The request cannot be fulfilled. Resource {version['name']} has value "
        f"{version['state']} in field crypto_key_version.state.",
        status="FAILED_PRECONDITION",
        reason="failedPrecondition",
    )


def check_labels(labels: dict[str, str], field: str) -> None:
    if len(labels) > 64:
        raise invalid(f"Invalid {field}: at most 64 labels are allowed.")
    for k, v in labels.items():
        if not LABEL_KEY_RE.match(k):
            raise invalid(
                f"Invalid {field} key '{k}': keys must start with a lowercase letter and contain only "
                "lowercase letters, digits, '_' and '-' (at most 63 characters)."
            )
        if not LABEL_VALUE_RE.match(v):
            raise invalid(
                f"Invalid {field} value '{v}' for key '{k}': values may contain only lowercase "
                "letters, digits, '_' and '-' (at most 63 characters)."
            )


def _require(project: Project, permission: str, resource: str) -> None:
    """The caller holds every permission unless a test withdrew it (admin settings deniedPermissions).
    A new version needs cloudkms.cryptoKeyVersions.create, a primary change cloudkms.cryptoKeys.update
    ("Rotate a key", required permissions: https://cloud.google.com/kms/docs/rotate-key#required-roles)."""
    if permission in project.denied_permissions:
        raise permission_denied(
            f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
        )


class KmsService:
    def __init__(self, backend: Backend, iam: Any) -> None:
        self.backend = backend
        self.iam = iam

    @staticmethod
    def _names(
        project: Project, location: str, ring: str = "", key: str = "", version: str = ""
    ) -> dict[str, str]:
        """Full resource names of a location and, as far as given, a key ring, key and version."""
        loc = f"projects/{project.id}/locations/{location}"
        out = {"location": loc}
        if ring:
            out["ring"] = f"{loc}/keyRings/{ring}"
        if key:
            out["key"] = f"{out['ring']}/cryptoKeys/{key}"
        if version:
            out["version"] = f"{out['key']}/cryptoKeyVersions/{version}"
        return out

    @staticmethod
    def _check_location(location: str) -> None:
        if not LOCATION_RE.match(location):
            raise not_found(f"Location {location} is not found or access is unallowed.")

    # ---- key rings --------------------------------------------------------------------------
    def _ring(self, project: Project, name: str) -> dict[str, Any]:
        ring = project.key_rings.get(name)
        if ring is None:
            raise not_found(f"KeyRing {name} not found.")
        return ring

    def create_key_ring(
        self, project: Project, location: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        self._check_location(location)
        ring_id = query.get("keyRingId", "")
        if not ID_RE.match(ring_id):
            raise invalid(f"Invalid key_ring_id '{ring_id}': 1 to 63 letters, digits, '_' or '-'.")
        name = self._names(project, location, ring_id)["ring"]
        self.backend.clock.sleep("keyRings.create")
        with project.locked():
            if name in project.key_rings:
                raise already_exists(f"KeyRing {name} already exists.")
            ring = {"name": name, "createTime": rfc3339(self.backend.clock.now())}
            project.key_rings[name] = ring
            return dict(ring)

    def get_key_ring(self, project: Project, location: str, ring: str) -> dict[str, Any]:
        with project.locked():
            return dict(self._ring(project, self._names(project, location, ring)["ring"]))

    @staticmethod
    def _page(items: list[dict[str, Any]], q: dict[str, str], field: str) -> dict[str, Any]:
        start = int(q.get("pageToken") or 0)
        size = int(q.get("pageSize") or 1000)
        chunk = items[start : start + size]
        out: dict[str, Any] = {field: chunk, "totalSize": len(items)}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        if not chunk:
            del out[field]
        return out

    def list_key_rings(self, project: Project, location: str, query: dict[str, str]) -> dict[str, Any]:
        prefix = self._names(project, location)["location"] + "/keyRings/"
        with project.locked():
            items = [dict(r) for n, r in sorted(project.key_rings.items()) if n.startswith(prefix)]
        return self._page(items, query, "keyRings")

    # ---- keys -------------------------------------------------------------------------------
    def _key(self, project: Project, name: str) -> dict[str, Any]:
        key = project.crypto_keys.get(name)
        if key is None:
            raise not_found(f"CryptoKey {name} not found.")
        return key

    def key_json(self, project: Project, key: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in key.items() if not k.startswith("_")}
        primary = key.get("_primary")
        if primary and primary in project.key_versions:
            out["primary"] = dict(project.key_versions[primary])
        return out

    def _new_version(self, project: Project, key: dict[str, Any]) -> dict[str, Any]:
        n = key["_versions"] = key.get("_versions", 0) + 1
        now = rfc3339(self.backend.clock.now())
        template = key.get("versionTemplate", {})
        version = {
            "name": f"{key['name']}/cryptoKeyVersions/{n}",
            "state": "ENABLED",
            "createTime": now,
            "generateTime": now,
            "protectionLevel": template.get("protectionLevel", "SOFTWARE"),
            "algorithm": template.get("algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"),
        }
        project.key_versions[version["name"]] = version
        return version

    def create_key(
        self, project: Project, location: str, ring: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        self._check_location(location)
        key_id = query.get("cryptoKeyId", "")
        if not ID_RE.match(key_id):
            raise invalid(f"Invalid crypto_key_id '{key_id}': 1 to 63 letters, digits, '_' or '-'.")
        spec = normalize(kms_v1.CryptoKey, body or {})
        purpose = spec.get("purpose", "CRYPTO_KEY_PURPOSE_UNSPECIFIED")
        if purpose == "CRYPTO_KEY_PURPOSE_UNSPECIFIED":
            raise invalid("The request must specify crypto_key.purpose.")
        check_labels(spec.get("labels", {}), "crypto_key.labels")
        names = self._names(project, location, ring)
        self.backend.clock.sleep("cryptoKeys.create")
        with project.locked():
            self._ring(project, names["ring"])
            name = f"{names['ring']}/cryptoKeys/{key_id}"
            if name in project.crypto_keys:
                raise already_exists(f"CryptoKey {name} already exists.")
            template = spec.get("versionTemplate", {})
            template.setdefault("protectionLevel", "SOFTWARE")
            if purpose == "ENCRYPT_DECRYPT":
                template.setdefault("algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION")
            key: dict[str, Any] = {
                "name": name,
                "purpose": purpose,
                "createTime": rfc3339(self.backend.clock.now()),
                "versionTemplate": template,
                "destroyScheduledDuration": spec.get(
                    "destroyScheduledDuration", f"{DEFAULT_DESTROY_DURATION_S}s"
                ),
            }
            for field in ("labels", "rotationPeriod", "nextRotationTime", "importOnly", "cryptoKeyBackend"):
                if spec.get(field):
                    key[field] = spec[field]
            project.crypto_keys[name] = key
            project.key_policies[name] = Policy(name)
            if query.get("skipInitialVersionCreation", "false").lower() != "true":
                version = self._new_version(project, key)
                if purpose == "ENCRYPT_DECRYPT":
                    key["_primary"] = version["name"]
            return self.key_json(project, key)

    def get_key(self, project: Project, location: str, ring: str, key: str) -> dict[str, Any]:
        with project.locked():
            return self.key_json(
                project, self._key(project, self._names(project, location, ring, key)["key"])
            )

    def list_keys(self, project: Project, location: str, ring: str, query: dict[str, str]) -> dict[str, Any]:
        names = self._names(project, location, ring)
        with project.locked():
            self._ring(project, names["ring"])
            prefix = names["ring"] + "/cryptoKeys/"
            items = [
                self.key_json(project, k)
                for n, k in sorted(project.crypto_keys.items())
                if n.startswith(prefix)
            ]
        return self._page(items, query, "cryptoKeys")

    def update_key(
        self, project: Project, location: str, ring: str, key: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        mask = [m.strip() for m in (query.get("updateMask") or "").split(",") if m.strip()]
        if not mask:
            raise invalid("The request must specify update_mask.")
        unknown = [m for m in mask if m not in _UPDATABLE]
        if unknown:
            raise invalid(f"Invalid update_mask: field(s) {', '.join(unknown)} cannot be updated.")
        spec = normalize(kms_v1.CryptoKey, body or {})
        if "labels" in mask:
            check_labels(spec.get("labels", {}), "crypto_key.labels")
        with project.locked():
            stored = self._key(project, self._names(project, location, ring, key)["key"])
            for field in mask:
                top = field.split(".")[0]
                if spec.get(top) is None or spec.get(top) == {}:
                    stored.pop(top, None)
                else:
                    stored[top] = spec[top]
            return self.key_json(project, stored)

    # ---- versions ---------------------------------------------------------------------------
    def _version(self, project: Project, name: str) -> dict[str, Any]:
        version = project.key_versions.get(name)
        if version is None:
            raise not_found(f"CryptoKeyVersion {name} not found.")
        return version

    def get_version(
        self, project: Project, location: str, ring: str, key: str, version: str
    ) -> dict[str, Any]:
        with project.locked():
            return dict(self._version(project, self._names(project, location, ring, key, version)["version"]))

    def list_versions(
        self, project: Project, location: str, ring: str, key: str, query: dict[str, str]
    ) -> dict[str, Any]:
        names = self._names(project, location, ring, key)
        with project.locked():
            self._key(project, names["key"])
            prefix = names["key"] + "/cryptoKeyVersions/"
            items = [dict(v) for n, v in project.key_versions.items() if n.startswith(prefix)]
            if query.get("filter"):
                m = re.match(r"^\s*state\s*[=:]\s*(\w+)\s*$", query["filter"])
                if m:
                    items = [v for v in items if v["state"] == m.group(1)]
        items.sort(key=lambda v: int(v["name"].rsplit("/", 1)[-1]))
        return self._page(items, query, "cryptoKeyVersions")

    def create_version(
        self, project: Project, location: str, ring: str, key: str, body: Any
    ) -> dict[str, Any]:
        """cryptoKeyVersions.create: a new ENABLED version (generated at once for software keys). It is not
        made primary: a manual rotation makes it primary with updatePrimaryVersion ("Rotate a key",
        https://cloud.google.com/kms/docs/rotate-key#manual_rotation; method:
        https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/create)."""
        names = self._names(project, location, ring, key)
        _require(project, "cloudkms.cryptoKeyVersions.create", names["key"])
        with project.locked():
            stored = self._key(project, names["key"])
            if stored.get("importOnly"):
                raise invalid(f"CryptoKey {names['key']} is import-only: versions must be imported.")
            return dict(self._new_version(project, stored))

    def update_version(
        self,
        project: Project,
        location: str,
        ring: str,
        key: str,
        version: str,
        query: dict[str, str],
        body: Any,
    ) -> dict[str, Any]:
        """cryptoKeyVersions.patch with updateMask=state: only ENABLED <-> DISABLED; any other state is a
        failed precondition ("Enable and disable key versions", https://cloud.google.com/kms/docs/enable-disable;
        method: https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/patch)."""
        mask = [m.strip() for m in (query.get("updateMask") or "").split(",") if m.strip()]
        if mask != ["state"]:
            raise invalid("The request must specify update_mask, and only state can be updated.")
        wanted = normalize(kms_v1.CryptoKeyVersion, body or {}).get("state", "")
        if wanted not in ("ENABLED", "DISABLED"):
            raise invalid(
                f"Invalid crypto_key_version.state '{wanted}': only ENABLED or DISABLED can be set."
            )
        names = self._names(project, location, ring, key, version)
        with project.locked():
            self._key(project, names["key"])
            stored = self._version(project, names["version"])
            if stored["state"] not in ("ENABLED", "DISABLED"):
                raise _wrong_state(stored)
            stored["state"] = wanted
            return dict(stored)

    def update_primary_version(
        self, project: Project, location: str, ring: str, key: str, body: Any
    ) -> dict[str, Any]:
        """cryptoKeys.updatePrimaryVersion: only for ENCRYPT_DECRYPT keys, and only to an ENABLED version
        (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/updatePrimaryVersion;
        "Rotate a key", https://cloud.google.com/kms/docs/rotate-key)."""
        version_id = str((body or {}).get("cryptoKeyVersionId", "")) if isinstance(body, dict) else ""
        if not version_id:
            raise invalid("The request must specify crypto_key_version_id.")
        names = self._names(project, location, ring, key, version_id)
        _require(project, "cloudkms.cryptoKeys.update", names["key"])
        with project.locked():
            stored = self._key(project, names["key"])
            if stored["purpose"] != "ENCRYPT_DECRYPT":
                raise invalid(
                    f"CryptoKey {names['key']} has purpose {stored['purpose']}: only ENCRYPT_DECRYPT keys "
                    "have a primary version."
                )
            version = self._version(project, names["version"])
            if version["state"] != "ENABLED":
                raise _wrong_state(version)
            stored["_primary"] = version["name"]
            return self.key_json(project, stored)

    def destroy_version(
        self, project: Project, location: str, ring: str, key: str, version: str
    ) -> dict[str, Any]:
        names = self._names(project, location, ring, key, version)
        with project.locked():
            stored_key = self._key(project, names["key"])
            stored = self._version(project, names["version"])
            if stored["state"] not in ("ENABLED", "DISABLED"):
                raise _wrong_state(stored)
            delay = _seconds(stored_key.get("destroyScheduledDuration", f"{DEFAULT_DESTROY_DURATION_S}s"))
            stored["state"] = "DESTROY_SCHEDULED"
            stored["destroyTime"] = rfc3339(self.backend.clock.now() + delay)
            return dict(stored)

    def restore_version(
        self, project: Project, location: str, ring: str, key: str, version: str
    ) -> dict[str, Any]:
        names = self._names(project, location, ring, key, version)
        with project.locked():
            stored = self._version(project, names["version"])
            if stored["state"] != "DESTROY_SCHEDULED":
                raise _wrong_state(stored)
            stored["state"] = "DISABLED"
            stored.pop("destroyTime", None)
            return dict(stored)

    def version_usable(self, project: Project, key_name: str) -> bool:
        """Whether the key's primary version is ENABLED. GKE refuses a CMEK boot-disk or Secrets key without
        one: encryption uses the primary version ("Use customer-managed encryption keys (CMEK) in GKE",
        https://cloud.google.com/kubernetes-engine/docs/how-to/using-cmek; "Encrypt secrets at the
        application layer", https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets;
        a disabled or destroyed version cannot encrypt: https://cloud.google.com/kms/docs/enable-disable)."""
        key = project.crypto_keys.get(key_name)
        primary = key.get("_primary") if key is not None else None
        if not primary:
            return False
        return project.key_versions.get(primary, {}).get("state") == "ENABLED"

    # ---- IAM --------------------------------------------------------------------------------
    def get_iam_policy(
        self, project: Project, location: str, ring: str, key: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        name = self._names(project, location, ring, key)["key"]
        requested = query.get("options.requestedPolicyVersion") or (
            ((body or {}).get("options") or {}).get("requestedPolicyVersion")
            if isinstance(body, dict)
            else None
        )
        with project.locked():
            self._key(project, name)
            return project.key_policies[name].read(requested)

    def set_iam_policy(
        self, project: Project, location: str, ring: str, key: str, body: Any
    ) -> dict[str, Any]:
        policy = (body or {}).get("policy") or {}
        name = self._names(project, location, ring, key)["key"]
        self.backend.clock.sleep("setIamPolicy")
        with project.locked():
            self._key(project, name)
            return project.key_policies[name].set(
                policy,
                now=self.backend.clock.now(),
                delay=self.backend.clock.duration("iam.propagation"),
                check_member=self.iam.check_member,
            )

    def test_iam_permissions(
        self, project: Project, location: str, ring: str, key: str, body: Any
    ) -> dict[str, Any]:
        """cryptoKeys.testIamPermissions: the asked permissions the caller holds (all but those withdrawn)
        (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/testIamPermissions)."""
        asked = (body or {}).get("permissions") or [] if isinstance(body, dict) else []
        with project.locked():
            self._key(project, self._names(project, location, ring, key)["key"])
            held = [p for p in asked if isinstance(p, str) and p not in project.denied_permissions]
        return {"permissions": held} if held else {}

    def grant_effective(self, project: Project, key_name: str, member: str) -> bool:
        """Whether `member` can use the key now: the role granted on the key or inherited from the project,
        and propagated."""
        role = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        now = self.backend.clock.now()
        policy = project.key_policies.get(key_name)
        return bool(policy and policy.is_effective(role, member, now)) or project.policy.is_effective(
            role, member, now
        )

    # ---- routes -----------------------------------------------------------------------------
    def routes(self) -> ServiceRoutes:
        ring = "/keyRings/{ring}"
        key = ring + "/cryptoKeys/{key}"
        version = key + "/cryptoKeyVersions/{version}"
        return ServiceRoutes(
            api="cloudkms",
            service="cloudkms.googleapis.com",
            prefix="/v1/projects/{project}/locations/{location}",
            routes=(
                Route("POST", "/keyRings", self.create_key_ring),
                Route("GET", "/keyRings", self.list_key_rings),
                Route("GET", ring, self.get_key_ring),
                Route("POST", ring + "/cryptoKeys", self.create_key),
                Route("GET", ring + "/cryptoKeys", self.list_keys),
                Route("GET", key, self.get_key),
                Route("PATCH", key, self.update_key),
                Route("GET", key + ":getIamPolicy", self.get_iam_policy),
                Route("POST", key + ":getIamPolicy", self.get_iam_policy),
                Route("POST", key + ":setIamPolicy", self.set_iam_policy),
                Route("POST", key + ":testIamPermissions", self.test_iam_permissions),
                Route("POST", key + ":updatePrimaryVersion", self.update_primary_version),
                Route("GET", key + "/cryptoKeyVersions", self.list_versions),
                Route("POST", key + "/cryptoKeyVersions", self.create_version),
                Route("GET", version, self.get_version),
                Route("PATCH", version, self.update_version),
                Route("POST", version + ":destroy", self.destroy_version),
                Route("POST", version + ":restore", self.restore_version),
            ),
        )
