"""Chat notification hooks: post through a SlackWebhook block when configured, silent otherwise."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow

from flows.hooks import BLOCK_ENV, notify_completion, notify_failure
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT


@flow(name="hooked-ok", on_completion=[notify_completion], on_failure=[notify_failure])
def hooked_ok() -> int:
    return 1


@flow(name="hooked-fails", on_completion=[notify_completion], on_failure=[notify_failure])
def hooked_fails() -> None:
    raise RuntimeError("cluster create failed: quota exceeded")


def test_hooks_post_outcome_through_configured_webhook_block(prefect_harness, webhook_receiver, monkeypatch):
    from prefect_slack import SlackWebhook

    url, received = webhook_receiver.url, webhook_receiver.posts
    name = f"hook-{uuid.uuid4().hex[:8]}"
    SlackWebhook(url=url).save(name)
    monkeypatch.setenv(BLOCK_ENV, name)

    assert hooked_ok(return_state=True).is_completed()
    assert hooked_fails(return_state=True).is_failed()

    assert len(received) == 2, received
    ok, failed = received[0]["text"], received[1]["text"]
    assert "hooked-ok" in ok and "Completed" in ok
    assert "hooked-fails" in failed and "Failed" in failed and "quota exceeded" in failed
    assert url not in ok + failed  # the webhook URL is a secret


def test_hooks_are_no_ops_without_a_block(prefect_harness, webhook_receiver, monkeypatch):
    received = webhook_receiver.posts
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    assert hooked_ok(return_state=True).is_completed()
    assert received == []


ALL_FLOWS = [
    ("flows.provision", "provision_lab"),
    ("flows.teardown", "teardown_lab"),
    ("flows.verify", "verify_lab"),
    ("flows.plan", "plan_lab"),
    ("flows.reaper", "reap_expired_labs"),
    ("flows.extend", "extend_lab"),
]


@pytest.mark.parametrize("module,name", ALL_FLOWS)
def test_every_lab_flow_carries_the_chat_hooks(module, name):
    import importlib

    lab_flow = getattr(importlib.import_module(module), name)
    assert notify_completion in lab_flow.on_completion_hooks
    assert notify_failure in lab_flow.on_failure_hooks
    assert notify_failure in lab_flow.on_crashed_hooks


def test_lab_flows_post_to_the_webhook_when_they_complete_and_fail(
    prefect_harness, emulator, webhook_receiver, monkeypatch
):
    from prefect_slack import SlackWebhook

    from flows.extend import extend_lab
    from flows.plan import plan_lab

    url, received = webhook_receiver.url, webhook_receiver.posts
    name = f"hook-{uuid.uuid4().hex[:8]}"
    SlackWebhook(url=url).save(name)
    monkeypatch.setenv(BLOCK_ENV, name)

    # plan is read-only against the emulator and completes; a non-positive extension fails before any call
    assert plan_lab(overrides=[LOCAL_NETWORK], return_state=True).is_completed()
    assert extend_lab(project_id=PROJECT, lab="alice", hours=-1, return_state=True).is_failed()

    texts = [r["text"] for r in received]
    assert len(texts) == 2, texts
    assert "plan-lab" in texts[0] and "Completed" in texts[0]
    assert "extend-lab" in texts[1] and "Failed" in texts[1] and "hours: must be a positive" in texts[1]
    assert url not in "".join(texts)
