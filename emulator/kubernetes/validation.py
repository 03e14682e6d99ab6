"""Name rules and the pod template checks the apiserver applies."""

from __future__ import annotations

import json
import re

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def port_number_causes(value: object, field: str) -> list[tuple[str, str, str]]:
    """A port number is an integer from 1 to 65535."""
    if isinstance(value, int) and 1 <= value <= 65535:
        return []
    return [
        (
            field,
            "FieldValueInvalid",
            f"Invalid value: {json.dumps(value)}: must be between 1 and 65535, inclusive",
        )
    ]


def pod_template_causes(spec: dict, prefix: str) -> list[tuple[str, str, str]]:
    """(field, reason, message) for each rule a pod template's spec breaks."""
    causes: list[tuple[str, str, str]] = []
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not containers:
        causes.append((f"{prefix}.containers", "FieldValueRequired", "Required value"))
        return causes
    seen = set()
    for i, c in enumerate(containers):
        p = f"{prefix}.containers[{i}]"
        if not isinstance(c, dict):
            causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        cname = c.get("name") or ""
        if not cname:
            causes.append((f"{p}.name", "FieldValueRequired", "Required value"))
        elif not _DNS1123_LABEL.match(cname):
            causes.append((f"{p}.name", "FieldValueInvalid", f'Invalid value: "{cname}": {_LABEL_MSG}'))
        elif cname in seen:
            causes.append((f"{p}.name", "FieldValueDuplicate", f'Duplicate value: "{cname}"'))
        seen.add(cname)
        if not c.get("image"):
            causes.append((f"{p}.image", "FieldValueRequired", "Required value"))
        for j, port in enumerate(c.get("ports") or []):
            cp = port.get("containerPort") if isinstance(port, dict) else None
            causes += port_number_causes(cp, f"{p}.ports[{j}].containerPort")
            pname = port.get("name") if isinstance(port, dict) else None
            if pname is not None and (
                len(pname) > 15 or not _DNS1123_LABEL.match(pname) or not re.search(r"[a-z]", pname)
            ):
                causes.append(
                    (
                        f"{p}.ports[{j}].name",
                        "FieldValueInvalid",
                        f'Invalid value: "{pname}": must be no more than 15 characters',
                    )
                )
    return causes
