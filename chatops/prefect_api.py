"""The few Prefect REST API calls chat commands need (plain HTTP, as the README documents them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


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
            raise PrefectApiError(
                f"Prefect API unreachable at {self.api_url}: {type(exc).__name__}"
            ) from None
        return response

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = None
        return str(detail or response.text[:300] or response.reason_phrase)

    async def deployment(self, name: str) -> dict[str, Any]:
        """The deployment called `name` (whatever its flow is called)."""
        body = {"deployments": {"name": {"any_": [name]}}, "limit": 1}
        response = await self._call("POST", "deployments/filter", json=body)
        if response.status_code != 200:
            raise PrefectApiError(
                f"reading deployment failed ({response.status_code}): {self._detail(response)}"
            )
        found = response.json()
        if not found:
            raise PrefectApiError(f"deployment `{name}` not found: run `prefect deploy --all` first")
        return found[0]

    async def block_data(self, block_type_slug: str, name: str) -> dict[str, Any] | None:
        """A saved block's data, or None when no block of that name exists."""
        response = await self._call("GET", f"block_types/slug/{block_type_slug}/block_documents/name/{name}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PrefectApiError(f"reading block failed ({response.status_code}): {self._detail(response)}")
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
        response = await self._call("POST", f"deployments/{deployment_id}/create_flow_run", json=body)
        if response.status_code not in (200, 201):
            raise PrefectApiError(
                f"Prefect refused the run ({response.status_code}): {self._detail(response)}"
            )
        # 201 = created now; 200 = an existing run with the same idempotency key was returned.
        return CreatedRun(run=response.json(), created=response.status_code == 201)

    async def flow_run(self, run_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"flow_runs/{run_id}")
        if response.status_code != 200:
            raise PrefectApiError(
                f"reading flow run failed ({response.status_code}): {self._detail(response)}"
            )
        return response.json()

    async def flow_runs(
        self, *, tags_all: list[str], deployment_ids: list[str] | None = None, limit: int = 50
    ):
        flow_runs: dict[str, Any] = {"tags": {"all_": tags_all}}
        body: dict[str, Any] = {"flow_runs": flow_runs, "sort": "EXPECTED_START_TIME_DESC", "limit": limit}
        if deployment_ids:
            body["deployments"] = {"id": {"any_": deployment_ids}}
        response = await self._call("POST", "flow_runs/filter", json=body)
        if response.status_code != 200:
            raise PrefectApiError(
                f"listing flow runs failed ({response.status_code}): {self._detail(response)}"
            )
        return response.json()

    async def markdown_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["markdown"]}}}
        response = await self._call("POST", "artifacts/filter", json=body)
        if response.status_code != 200:
            return []
        return response.json()
