"""The few Prefect REST API calls chat commands need (plain HTTP, as the README documents them).

Failures are logged here with the API's answer; the exception's message, which users see, names only
what could not be done: internal URLs and response texts never reach chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
CREATE_ATTEMPTS = 3

log = logging.getLogger("gke_lab.chatops")


class PrefectApiError(RuntimeError):
    """The Prefect API refused or failed a call; the message is safe to show to users."""


@dataclass(frozen=True)
class CreatedRun:
    run: dict[str, Any]
    created: bool  # False: the idempotency key matched an existing run (a replayed delivery)


class PrefectApi:
    def __init__(self, api_url: str, *, api_key: str | None = None, timeout: float = 10.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.api_url = api_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.api_url + "/", headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("Prefect API %s %s unreachable at %s: %r", method, path, self.api_url, exc)
            raise PrefectApiError(
                "the Prefect API could not be reached; try again (details are in the receiver's log)"
            ) from None
        return response

    @staticmethod
    def _failed(what: str, response: httpx.Response) -> PrefectApiError:
        """Log the API's answer; return the error users see, which does not include it."""
        log.warning(
            "Prefect API: %s failed (%s %s -> %s): %s",
            what,
            response.request.method,
            response.request.url,
            response.status_code,
            response.text[:2000],
        )
        return PrefectApiError(
            f"Prefect could not {what} (HTTP {response.status_code}); details are in the receiver's log"
        )

    async def deployment(self, name: str) -> dict[str, Any]:
        """The deployment called `name` (whatever its flow is called)."""
        body = {"deployments": {"name": {"any_": [name]}}, "limit": 1}
        response = await self._call("POST", "deployments/filter", json=body)
        if response.status_code != 200:
            raise self._failed("read the deployment", response)
        found = response.json()
        if not found:
            log.warning("deployment %s not found: run `prefect deploy --all`", name)
            raise PrefectApiError(f"deployment `{name}` is not registered; ask an admin")
        return dict(found[0])

    async def block_data(self, block_type_slug: str, name: str) -> dict[str, Any] | None:
        """A saved block's data, or None when no block of that name exists."""
        response = await self._call("GET", f"block_types/slug/{block_type_slug}/block_documents/name/{name}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._failed("read the blueprint", response)
        return response.json().get("data") or {}

    async def create_flow_run(
        self,
        deployment_id: str,
        *,
        parameters: dict[str, Any],
        tags: list[str],
        name: str,
        idempotency_key: str,
    ) -> CreatedRun:
        body = {"parameters": parameters, "tags": tags, "name": name, "idempotency_key": idempotency_key}
        for attempt in range(CREATE_ATTEMPTS):
            try:
                response = await self._call("POST", f"deployments/{deployment_id}/create_flow_run", json=body)
                break
            except PrefectApiError:
                # No answer: the run may exist. A retry with the same idempotency key never makes a second.
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
        if response.status_code not in (200, 201):
            raise self._failed("create the run", response)
        # 201 = created now; 200 = an existing run with the same idempotency key was returned: a replayed
        # delivery, or, after an attempt that got no answer, the run that attempt created.
        return CreatedRun(run=response.json(), created=response.status_code == 201 or attempt > 0)

    async def flow_run(self, run_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"flow_runs/{run_id}")
        if response.status_code != 200:
            raise self._failed("read the flow run", response)
        return dict(response.json())

    async def flow_runs(
        self,
        *,
        tags_all: list[str],
        deployment_ids: list[str] | None = None,
        limit: int = 50,
        states: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        flow_runs: dict[str, Any] = {"tags": {"all_": tags_all}}
        if states:
            flow_runs["state"] = {"type": {"any_": states}}
        body: dict[str, Any] = {"flow_runs": flow_runs, "sort": "EXPECTED_START_TIME_DESC", "limit": limit}
        if deployment_ids:
            body["deployments"] = {"id": {"any_": deployment_ids}}
        response = await self._call("POST", "flow_runs/filter", json=body)
        if response.status_code != 200:
            raise self._failed("list flow runs", response)
        return list(response.json())

    async def markdown_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["markdown"]}}}
        response = await self._call("POST", "artifacts/filter", json=body)
        if response.status_code != 200:
            return []
        return list(response.json())

    async def latest_artifact(self, key: str) -> dict[str, Any] | None:
        """The latest version of the artifact `key` (e.g. the pools' status table), or None."""
        response = await self._call("GET", f"artifacts/{key}/latest")
        if response.status_code != 200:
            return None
        return dict(response.json())

    async def progress_artifact(self, run_id: str) -> dict[str, Any] | None:
        """The run's progress artifact (`data` is the percentage, `description` the phase), or None."""
        body = {
            "artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["progress"]}},
            "sort": "UPDATED_DESC",
            "limit": 1,
        }
        response = await self._call("POST", "artifacts/filter", json=body)
        if response.status_code != 200:
            return None
        found = response.json()
        return dict(found[0]) if found else None
