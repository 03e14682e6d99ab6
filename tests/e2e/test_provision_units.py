"""The provisioning building blocks without a server: classification, backoff, polling, IAM merge."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions as gexc
from google.iam.v1 import policy_pb2

from gke_lab import ops, retry
from gke_lab.errors import (
    ApiError,
    LabError,
    is_already_exists,
    is_etag_conflict,
    is_transient,
)
from gke_lab.overrides import apply_overrides
from gke_lab.resources.cluster import propagation_retryable
from gke_lab.resources.iam_policy import Grants, add_bindings, ensure_members


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (gexc.TooManyRequests("quota"), True),
        (gexc.ServiceUnavailable("down"), True),
        (gexc.InternalServerError("oops"), True),
        (gexc.Aborted("There were concurrent policy changes."), True),
        (gexc.Conflict("etag mismatch"), True),
        (gexc.AlreadyExists("exists"), False),
        (gexc.BadRequest("bad field"), False),
        (gexc.NotFound("gone"), False),
        (gexc.PermissionDenied("denied"), False),
        (gexc.Forbidden("x", errors=[{"reason": "rateLimitExceeded"}]), True),
        (LabError("already classified"), False),
    ],
)
def test_classification(exc, transient):
    assert is_transient(exc) is transient


def test_conflict_kinds():
    assert is_already_exists(gexc.AlreadyExists("x"))
    assert is_already_exists(gexc.Conflict("x", errors=[{"reason": "alreadyExists"}]))
    assert not is_etag_conflict(gexc.Conflict("x", errors=[{"reason": "alreadyExists"}]))
    assert is_etag_conflict(gexc.Aborted("x"))


def test_call_retries_transient_then_succeeds_and_names_resource_on_permanent():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise gexc.ServiceUnavailable("try later")
        return "ok"

    assert retry.call(flaky, resource="r", action="get", sleep=lambda s: None) == "ok"
    assert len(attempts) == 3

    def bad():
        raise gexc.BadRequest("invalid cidr")

    with pytest.raises(ApiError, match=r"create projects/p/x failed \(HTTP 400\).*invalid cidr") as info:
        retry.call(bad, resource="projects/p/x", action="create", sleep=lambda s: None)
    assert info.value.resource == "projects/p/x"


def test_call_gives_up_after_attempts_and_prefect_condition_says_retry():
    slept: list[float] = []
    backoff = retry.Backoff(base=1, factor=2, cap=5, jitter=0.5, attempts=5)
    with pytest.raises(ApiError, match="gave up after 5 attempts") as info:
        retry.call(
            lambda: (_ for _ in ()).throw(gexc.ServiceUnavailable("x")),
            resource="r",
            action="get",
            backoff=backoff,
            sleep=slept.append,
        )
    assert len(slept) == 4
    for n, delay in enumerate(slept):
        raw = min(5, 2**n)
        assert 0.5 * raw <= delay <= 1.5 * raw

    class State:
        def __init__(self, exc):
            self.exc = exc

        def result(self, raise_on_failure=False):
            return self.exc

    assert retry.retry_condition(None, None, State(info.value)) is True
    assert retry.retry_condition(None, None, State(ApiError("r", "get", gexc.BadRequest("no")))) is False


def test_poll_interval_is_clamped_share_of_elapsed():
    assert ops.poll_interval(0) == ops.MIN_INTERVAL
    assert ops.poll_interval(100) == pytest.approx(2.0)
    assert ops.poll_interval(10_000) == ops.MAX_INTERVAL


def test_add_bindings_keeps_everyone_else():
    policy = policy_pb2.Policy(
        etag=b"abc",
        bindings=[
            policy_pb2.Binding(role="roles/logging.logWriter", members=["user:alice@example.com"]),
            policy_pb2.Binding(role="roles/owner", members=["user:bob@example.com"]),
        ],
    )
    added = add_bindings(
        policy,
        [
            ("roles/logging.logWriter", "serviceAccount:n@p"),
            ("roles/monitoring.viewer", "serviceAccount:n@p"),
        ],
    )
    assert added == [
        ("roles/logging.logWriter", "serviceAccount:n@p"),
        ("roles/monitoring.viewer", "serviceAccount:n@p"),
    ]
    roles = {b.role: list(b.members) for b in policy.bindings}
    assert roles["roles/logging.logWriter"] == ["user:alice@example.com", "serviceAccount:n@p"]
    assert roles["roles/owner"] == ["user:bob@example.com"]
    assert add_bindings(policy, [("roles/monitoring.viewer", "serviceAccount:n@p")]) == []


def test_rmw_restarts_whole_cycle_on_conflict_and_never_writes_stale():
    server = {"policy": policy_pb2.Policy(etag=b"1"), "writes": []}
    conflicts = [True]

    def get():
        p = policy_pb2.Policy()
        p.CopyFrom(server["policy"])
        return p

    def set_(policy):
        if conflicts and conflicts.pop():
            # someone else wrote in between: their binding lands, our etag is stale
            server["policy"].bindings.add(role="roles/viewer", members=["user:carol@example.com"])
            server["policy"].etag = b"2"
            raise gexc.Aborted("There were concurrent policy changes.")
        assert policy.etag == server["policy"].etag
        server["writes"].append(policy)
        server["policy"] = policy

    out = ensure_members(get, set_, [("roles/logging.logWriter", "serviceAccount:n@p")], "projects/p")
    assert out.granted == [("roles/logging.logWriter", "serviceAccount:n@p")]
    roles = {b.role: list(b.members) for b in server["policy"].bindings}
    assert roles == {
        "roles/viewer": ["user:carol@example.com"],
        "roles/logging.logWriter": ["serviceAccount:n@p"],
    }
    # Nothing to add: no write at all.
    again = ensure_members(get, set_, [("roles/logging.logWriter", "serviceAccount:n@p")], "projects/p")
    assert again == Grants(resource="projects/p", granted=[], granted_at=None) and len(server["writes"]) == 1


def test_propagation_window_only_for_key_errors_after_our_grant():
    spec = apply_overrides(None, [])
    key = spec.key_name("secrets")
    denied = gexc.PermissionDenied(
        f"Permission cloudkms.cryptoKeyVersions.useToEncrypt denied on resource {key}"
    )
    other = gexc.PermissionDenied("Permission container.clusters.create denied on projects/gke-detail")
    now = time.time()
    assert propagation_retryable(spec, [now - 5], now=now)(denied) is True
    assert propagation_retryable(spec, [now - 5], now=now)(other) is False
    assert propagation_retryable(spec, [None, None], now=now)(denied) is False
    assert propagation_retryable(spec, [now - 3600], now=now)(denied) is False


def test_cluster_create_naming_the_new_node_account_as_missing_is_retried_in_the_window():
    spec = apply_overrides(None, [])
    missing = gexc.BadRequest(f"Service account {spec.node_sa_email} does not exist.")
    unrelated = gexc.BadRequest("Invalid value for field 'cluster.locations'")
    now = time.time()
    assert propagation_retryable(spec, [now - 5], now=now)(missing) is True
    assert propagation_retryable(spec, [now - 5], now=now)(unrelated) is False
    assert propagation_retryable(spec, [None], now=now)(missing) is False
    assert propagation_retryable(spec, [now - 3600], now=now)(missing) is False


def test_error_cluster_with_a_key_error_is_a_propagation_failure_only_in_the_window():
    from google.cloud import container_v1

    from gke_lab.resources.cluster import kms_propagation_failure

    spec = apply_overrides(None, [])
    key = spec.key_name("node")
    message = f"Google Compute Engine: Cloud KMS error when using key {key}: Permission denied"
    error = container_v1.Cluster(
        status=container_v1.Cluster.Status.ERROR,
        status_message=message,
        conditions=[container_v1.StatusCondition(code="CLOUD_KMS_KEY_ERROR", message=message)],
    )
    now = time.time()
    assert kms_propagation_failure(spec, error, [now - 60], now=now) is True
    assert kms_propagation_failure(spec, error, [now - 3600], now=now) is False
    assert kms_propagation_failure(spec, error, [None], now=now) is False
    other = container_v1.Cluster(status=container_v1.Cluster.Status.ERROR, status_message="quota exceeded")
    assert kms_propagation_failure(spec, other, [now - 60], now=now) is False
    running = container_v1.Cluster(status=container_v1.Cluster.Status.RUNNING, status_message=message)
    assert kms_propagation_failure(spec, running, [now - 60], now=now) is False


def test_new_service_account_unknown_to_set_iam_policy_is_retried_only_briefly():
    from gke_lab.resources.project_bindings import new_account_retryable

    spec = apply_overrides(None, [])
    missing = gexc.BadRequest(f"Service account {spec.node_sa_email} does not exist.")
    now = time.time()
    assert new_account_retryable(spec, now - 2, now=now)(missing) is True
    assert new_account_retryable(spec, None, now=now)(missing) is False  # we did not just create it
    assert new_account_retryable(spec, now - 3600, now=now)(missing) is False
    assert new_account_retryable(spec, now - 2, now=now)(gexc.BadRequest("invalid role")) is False
