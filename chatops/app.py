"""The Slack slash-command receiver: verify, authorize, validate, create a Prefect flow run, answer fast.

`POST /slack/commands` answers within Slack's 3 seconds with the flow-run link; a background watcher
posts the outcome (lab card or error) to the command's `response_url` when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from typing import Any
from urllib.parse import parse_qs

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from chatops.auth import Refused
from chatops.commands import USAGE, Command, CommandError, parse
from chatops.lab_params import LAB_TAG, PROJECT_TAG, build_up, lab_tags, owner_of, spec_problems
from chatops.prefect_api import TERMINAL_STATES, PrefectApi, PrefectApiError
from chatops.settings import Settings
from gke_lab.spec import SpecError

log = logging.getLogger("gke_lab.chatops")

BLUEPRINT_BLOCK_TYPE = "gke-lab-blueprint"


class BodyTooLarge(Exception):
    pass


def ephemeral(text: str) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "text": text})


def delivery_key(form: dict[str, str], timestamp: str, body: bytes) -> str:
    """One key per Slack delivery: a retried or replayed delivery carries the same trigger_id and body."""
    trigger = form.get("trigger_id")
    if trigger:
        return f"slack:{form.get('team_id', '')}:{trigger}"
    return "slack:" + hashlib.sha256(timestamp.encode() + b":" + body).hexdigest()


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class ChatOps:
    def __init__(self, settings: Settings, api: PrefectApi | None = None):
        self.settings = settings
        self.api = api or PrefectApi(
            settings.api_url, api_key=os.environ.get("PREFECT_API_KEY") or None, timeout=settings.api_timeout
        )
        self.verifier = SignatureVerifier(settings.signing_secret)
        self.watchers: set[asyncio.Task] = set()
        self._http = httpx.AsyncClient(timeout=10.0)

    # ---------------------------------------------------------------- HTTP

    async def commands(self, request: Request) -> JSONResponse | PlainTextResponse:
        try:
            body = await read_body(request, self.settings.max_body)
        except BodyTooLarge:
            return PlainTextResponse(
                f"request body larger than {self.settings.max_body} bytes refused", status_code=413
            )
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not self._signature_ok(body, timestamp, signature):
            return PlainTextResponse("invalid or stale Slack signature", status_code=401)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        user_id = form.get("user_id", "")
        try:
            command = parse(form.get("text", ""))
            self.settings.policy.check_user(user_id, command)
            text = await self.dispatch(command, user_id, form, delivery_key(form, timestamp, body))
        except (CommandError, Refused) as exc:
            text = f":no_entry: {exc}"
        except PrefectApiError as exc:
            text = f":warning: {exc}"
        log.info("user=%s action=%s", user_id, form.get("text", "").split(" ", 1)[0] or "help")
        return ephemeral(text)

    def _signature_ok(self, body: bytes, timestamp: str, signature: str) -> bool:
        try:
            return self.verifier.is_valid(body=body, timestamp=timestamp or None, signature=signature or None)
        except ValueError:  # a timestamp that is not a number
            return False

    # ---------------------------------------------------------------- commands

    async def dispatch(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        if command.action == "help":
            return USAGE
        if command.action == "up":
            return await self.up(command, user_id, form, key)
        if command.action in ("down", "extend"):
            return await self.act_on_lab(command, user_id, form, key)
        if command.action == "status":
            return await self.status(command.lab, user_id)
        return await self.list_labs()

    async def up(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        blueprint = command.blueprint or self.settings.blueprint
        base = None
        if blueprint:
            data = await self.api.block_data(BLUEPRINT_BLOCK_TYPE, blueprint)
            if data is None:
                raise CommandError(
                    f"no blueprint `{blueprint}`: saved blueprints are LabBlueprint blocks "
                    "(`gke-lab blocks register` saves article-default and small-zonal)"
                )
            base = data.get("spec") or {}
        try:
            lab_run = build_up(command, base, blueprint, user_id)
        except (SpecError, ValueError) as exc:
            return f":no_entry: lab `{command.lab}` not started, the spec is invalid:\n{spec_problems(exc)}"
        latest = await self._latest_run(lab_run.spec.lab, lab_run.spec.project_id)
        if latest is not None:
            owner = owner_of(latest.get("tags", []))
            if owner and owner != user_id and not self.settings.policy.is_admin(user_id):
                raise Refused(f"lab `{command.lab}` belongs to <@{owner}>: pick another name")
        deployment = await self.api.deployment(self.settings.deployments["up"])
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters=lab_run.parameters,
            tags=lab_run.tags,
            name=lab_run.name,
            idempotency_key=f"{key}:up",
        )
        return self._started(created.run, created.created, form, f"provisioning lab `{lab_run.spec.lab}`")

    async def act_on_lab(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        runs = await self.api.flow_runs(tags_all=[f"{LAB_TAG}{command.lab}", "gke-lab"])
        provision = await self._deployment_id("up")
        source = next((r for r in runs if r.get("deployment_id") == provision), None)
        if source is None:
            raise CommandError(
                f"no lab `{command.lab}` was started through Prefect: nothing to {command.action} "
                "(labs started elsewhere: `gke-lab list`)"
            )
        owner = owner_of(source.get("tags", []))
        self.settings.policy.check_owner(user_id, command, owner)
        project = next((t[len(PROJECT_TAG) :] for t in source["tags"] if t.startswith(PROJECT_TAG)), "")
        parameters = {
            k: source["parameters"].get(k) for k in ("spec", "blueprint", "overrides", "credentials_block")
        }
        parameters = {k: v for k, v in parameters.items() if v is not None}
        if command.action == "extend":
            # extend-lab addresses the lab by identity (its labels), not by spec.
            parameters = {"project_id": project, "lab": command.lab, "hours": command.ttl_hours}
            if source["parameters"].get("credentials_block"):
                parameters["credentials_block"] = source["parameters"]["credentials_block"]
        deployment = await self.api.deployment(self.settings.deployments[command.action])
        verb = {"down": "teardown", "extend": "extend"}[command.action]
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters=parameters,
            tags=lab_tags(project, command.lab, owner),
            name=f"{verb} {command.lab}@{project}",
            idempotency_key=f"{key}:{command.action}",
        )
        what = "tearing down" if command.action == "down" else f"extending by {command.ttl_hours}h"
        return self._started(created.run, created.created, form, f"{what} lab `{command.lab}`")

    def _started(self, run: dict[str, Any], created: bool, form: dict[str, str], what: str) -> str:
        link = f"<{self.settings.run_url(run['id'])}|{run['name']}>"
        if not created:
            return f":repeat: this command was already received; no new run: {link}"
        if form.get("response_url"):
            self.watch(run["id"], form["response_url"])
        return f":rocket: {what}: {link} (I will post the outcome here)"

    async def status(self, lab: str | None, user_id: str) -> str:
        tags = ["gke-lab", f"{LAB_TAG}{lab}"] if lab else ["gke-lab", f"owner:{user_id}"]
        runs = await self.api.flow_runs(tags_all=tags, limit=5 if lab else 20)
        if not runs:
            return f"no runs for lab `{lab}`" if lab else "you have no labs started through chat"
        lines = [self._run_line(r) for r in runs]
        return ("*Lab* `" + lab + "`\n" if lab else "*Your recent lab runs*\n") + "\n".join(lines)

    async def list_labs(self) -> str:
        runs = await self.api.flow_runs(tags_all=["gke-lab"], limit=200)
        latest: dict[str, dict[str, Any]] = {}
        for run in runs:  # newest first: keep each lab's latest run
            lab = next((t[len(LAB_TAG) :] for t in run.get("tags", []) if t.startswith(LAB_TAG)), None)
            if lab and lab not in latest:
                latest[lab] = run
        if not latest:
            return "no labs started through Prefect yet"
        return "*Labs*\n" + "\n".join(
            f"• `{lab}` (owner {('<@' + owner_of(r['tags']) + '>') if owner_of(r['tags']) else 'unknown'}): "
            + self._run_line(r)
            for lab, r in sorted(latest.items())
        )

    def _run_line(self, run: dict[str, Any]) -> str:
        state = (run.get("state") or {}).get("name") or run.get("state_name") or "?"
        return f"<{self.settings.run_url(run['id'])}|{run['name']}>: {state}"

    async def _deployment_id(self, action: str) -> str:
        return (await self.api.deployment(self.settings.deployments[action]))["id"]

    async def _latest_run(self, lab: str, project: str) -> dict[str, Any] | None:
        runs = await self.api.flow_runs(
            tags_all=["gke-lab", f"{LAB_TAG}{lab}", f"{PROJECT_TAG}{project}"], limit=1
        )
        return runs[0] if runs else None

    # ---------------------------------------------------------------- outcome

    def watch(self, run_id: str, response_url: str) -> None:
        task = asyncio.create_task(self._watch(run_id, response_url))
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)

    async def _watch(self, run_id: str, response_url: str) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.watch_hours * 3600
        while True:
            try:
                run = await self.api.flow_run(run_id)
            except PrefectApiError:
                run = None
            state = (run or {}).get("state") or {}
            if state.get("type") in TERMINAL_STATES:
                break
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(self.settings.poll_seconds)
        text = await self.outcome(run, state)
        try:
            await self._http.post(response_url, json={"response_type": "ephemeral", "text": text})
        except httpx.HTTPError as exc:  # the URL itself is a credential: never log it
            log.warning("posting the outcome of run %s failed: %s", run_id, type(exc).__name__)

    async def outcome(self, run: dict[str, Any], state: dict[str, Any]) -> str:
        link = f"<{self.settings.run_url(run['id'])}|{run['name']}>"
        if state.get("type") != "COMPLETED":
            message = (state.get("message") or "").strip()
            return f":x: {link} ended {state.get('name', state.get('type'))}" + (
                f":\n```{message}```" if message else ""
            )
        artifacts = await self.api.markdown_artifacts(run["id"])
        card = next((a for a in artifacts if "card" in (a.get("key") or "")), None)
        text = f":white_check_mark: {link} completed"
        return text + ("\n" + str(card["data"]) if card else "")

    async def aclose(self) -> None:
        for task in list(self.watchers):
            task.cancel()
        for task in list(self.watchers):
            with contextlib.suppress(BaseException):
                await task
        await self._http.aclose()
        await self.api.aclose()


def create_app(settings: Settings, api: PrefectApi | None = None) -> Starlette:
    chatops = ChatOps(settings, api)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await chatops.aclose()

    app = Starlette(
        routes=[Route("/slack/commands", chatops.commands, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )
    app.state.chatops = chatops
    return app
