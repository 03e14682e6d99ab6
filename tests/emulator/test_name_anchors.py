"""Object names are judged whole: a `$`-anchored pattern applied with `match` also accepts a name that ends
in a newline, which the Kubernetes API refuses (422)."""

from __future__ import annotations

import pytest

from emulator.kubernetes.rbac import _Rbac
from emulator.kubernetes.validation import _DNS1123_SUBDOMAIN


def test_a_name_ending_in_a_newline_is_no_dns_subdomain():
    assert _DNS1123_SUBDOMAIN.fullmatch("echo") and not _DNS1123_SUBDOMAIN.fullmatch("echo\n")


def test_a_role_named_with_a_trailing_newline_is_refused():
    with pytest.raises(Exception, match="422") as refused:
        _Rbac._check_rules(None, "ClusterRole", {"metadata": {"name": "viewer\n"}, "rules": []})  # type: ignore[arg-type]
    assert "metadata.name" in repr(vars(refused.value))
