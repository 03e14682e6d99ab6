"""The Slack slash-command receiver: verify, authorize, validate, create a Prefect flow run, answer fast.

`POST /slack/commands` answers within Slack's 3 seconds with the flow-run link; a background watcher
posts the outcome (lab card or error) to the command's `response_url` when the run ends.

Every answer is HTTP 200 with an ephemeral message, except a bad signature (401) or an oversized body
(413): no input produces a 500. Parsing, validation and the look-up of live labs run in a small thread
pool under a time limit, so no command can hold the event loop that answers the others. What chat may do
is chatops.policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from chatops import policy as chat_policy
from chatops.commands import USAGE, Command, CommandError, parse
from chatops.lab_params import (
    CHAT_TAG,
    LAB_TAG,
    OWNER_TAG,
    PROJECT_TAG,
    LabRun,
    build_up,
    lab_tags,
    owner_of,
    spec_problems,
    tag_value,
)
from chatops.live import live_lab
from chatops.policy import Refused
from chatops.prefect_api import TERMINAL_STATES, PrefectApi, PrefectApiError
from chatops.settings import Settings
from gke_lab.progress import PROVISION, about, duration
from gke_lab.spec import SpecError

log = logging.getLogger("gke_lab.chatops")

BLUEPRINT_BLOCK_TYPE = "gke-lab-blueprint"
# Threads for parsing, validation and live look-ups: a stuck one holds a slot, never the event loop.
CHECK_THREADS = 4
# Runs read to decide whether a lab name is taken (any of them not started by the user refuses `up`).
HISTORY_LIMIT = 200

T = TypeVar("T")


POOL_TAG = "gke-lab-pool:"
POOL_STATUS_KEY = "pool-status"  # the artifact every maintain-pools run publishes
STATUS_CHARS = 2800  # Slack shows about 3000 characters of a message before "see more"


def line_position(ahead: int, provision_seconds: float) -> str:
    """Where a new claim stands in its pool's line, and what to expect."""
    empty = f"if the pool has no ready lab, expect about {about(provision_seconds)} (one lab being made)"
    if ahead == 0:
        return f"First in line: a ready lab is yours in seconds; {empty}."
    return f"{ahead} claim(s) ahead of you in line, served first; {empty} per claim ahead."


def provision_estimate() -> float:
    """Typical seconds to provision one lab (gke_lab.progress's figures for real Google Cloud)."""
    return sum(phase.typical for phase in PROVISION)


def pool_section(text: str, pool: str) -> str | None:
    """The section of a status text whose heading (any level) names `pool` as a whole word, or None."""
    sections = re.split(r"(?m)^(?=#{1,6} )", text)
    word = re.compile(rf"(?<![-a-z0-9]){re.escape(pool)}(?![-a-z0-9])")
    return next((s for s in sections if s.startswith("#") and word.search(s.splitlines()[0])), None)


def in_code_block(text: str, limit: int) -> str:
    """Text shown inside a Slack code block: shortened, unable to close the block or form mentions/links."""
    text = text if len(text) <= limit else text[:limit] + "\n…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")
    return f"```\n{text}\n```"


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


def _mention(owner: str | None) -> str:
    return f"<@{owner}>" if owner else "unknown"


class ChatOps:
    def __init__(self, settings: Settings, api: PrefectApi | None = None):
        self.settings = settings
        self.policy = settings.policy
        self.api = api or PrefectApi(
            settings.api_url, api_key=os.environ.get("PREFECT_API_KEY") or None, timeout=settings.api_timeout
        )
        self.verifier = SignatureVerifier(settings.signing_secret)
        self.watchers: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=10.0)
        self._checks = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="chatops-check")

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
        work = asyncio.create_task(self.handle(form, delivery_key(form, timestamp, body)))
        done, _ = await asyncio.wait({work}, timeout=self.settings.answer_seconds)
        if work in done:
            return ephemeral(work.result())
        # Slack drops an answer that takes longer than 3 s: acknowledge now, post the result when known.
        self.post_when_done(work, form.get("response_url", ""))
        return ephemeral(
            ":hourglass_flowing_sand: received; the Prefect API is slow to answer: "
            "the result will be posted here"
        )

    async def handle(self, form: dict[str, str], key: str) -> str:
        """The answer to one verified command (never raises: every failure is a message)."""
        user_id = form.get("user_id", "")
        try:
            self.policy.check_team(form.get("team_id", ""))
            command = await self.off_loop(parse, form.get("text", ""))
            self.policy.check_user(user_id, command)
            text = await self.dispatch(command, user_id, form, key)
        except (CommandError, Refused) as exc:
            text = f":no_entry: {exc}"
        except PrefectApiError as exc:
            text = f":warning: {exc}"
        except Exception:  # a defect must still answer the user, never with a 500 or a traceback
            log.exception("command failed: user=%s", user_id)
            text = ":warning: the command failed on the receiver's side; the error is in its log"
        log.info("user=%s action=%s", user_id, form.get("text", "").split(" ", 1)[0][:20] or "help")
        return text

    def post_when_done(self, work: asyncio.Task[str], response_url: str) -> None:
        """Post the answer of a command that outlived the answer deadline to its response_url."""

        async def post() -> None:
            text = await work
            if not response_url:
                return
            try:
                await self._http.post(response_url, json={"response_type": "ephemeral", "text": text})
            except httpx.HTTPError as exc:  # the URL itself is a credential: never log it
                log.warning("posting a late answer failed: %s", type(exc).__name__)

        task = asyncio.create_task(post())
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)

    def _signature_ok(self, body: bytes, timestamp: str, signature: str) -> bool:
        try:
            return self.verifier.is_valid(body=body, timestamp=timestamp or None, signature=signature or None)
        except ValueError:  # a timestamp that is not a number
            return False

    async def off_loop(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args)` in the check threads, refused when it takes longer than check_seconds."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._checks, lambda: function(*args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.settings.check_seconds)
        except TimeoutError:
            raise CommandError(
                f"checking this command took longer than {self.settings.check_seconds:g}s: refused"
            ) from None

    # ---------------------------------------------------------------- commands

    async def dispatch(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        if command.action == "help":
            return self.help()
        if command.action == "up":
            return await self.up(command, user_id, form, key)
        if command.action in ("down", "extend"):
            return await self.act_on_lab(command, user_id, form, key)
        if command.action == "status":
            return await self.status(command.lab, user_id)
        if command.action == "claim":
            return await self.claim(command, user_id, form, key)
        if command.action == "release":
            return await self.release(command, user_id, form, key)
        if command.action == "pool":
            return await self.pool_status(command.pool)
        return await self.list_labs()

    def help(self) -> str:
        projects = ", ".join(f"`{p}`" for p in sorted(self.policy.allowed_projects))
        return (
            f"{USAGE}\n\n*Chat policy*\n```\n{chat_policy.permission_table()}\n```\n"
            f"Projects chat may target: {projects}. TTL cap: {self.policy.max_ttl_hours:g}h."
        )

    async def up(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        admin = self.policy.is_admin(user_id)
        self.policy.check_overrides(user_id, command)
        if command.ttl_hours is not None:
            self.policy.check_ttl(user_id, command.ttl_hours, "ttl")
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
            lab_run = await self.off_loop(build_up, command, base, blueprint, user_id, admin=admin)
        except (SpecError, ValueError) as exc:
            return f":no_entry: lab `{command.lab}` not started, the spec is invalid:\n{spec_problems(exc)}"
        except CommandError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a value the YAML or number parsers choke on
            log.warning("spec of lab %s refused: %r", command.lab, exc)
            return f":no_entry: lab `{command.lab}` not started, the spec is invalid: {type(exc).__name__}"
        self.policy.check_project(lab_run.spec.project_id)
        self.policy.check_ttl(user_id, lab_run.spec.ttl_hours, "ttl")
        if not admin:
            await self._check_name_free(lab_run, user_id)
        deployment = await self.api.deployment(self.settings.deployments["up"])
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters=lab_run.parameters,
            tags=lab_run.tags,
            name=lab_run.name,
            idempotency_key=f"{key}:up",
        )
        return self._started(created.run, created.created, form, f"provisioning lab `{lab_run.spec.lab}`")

    async def _check_name_free(self, lab_run: LabRun, user_id: str) -> None:
        """Refuse a lab that exists and was not started by this user through chat.

        It exists when any run names it in this project (chat, CLI, UI or schedule: the flows tag their
        runs `lab:` and `project:`) or when live resources carry its marker.
        """
        lab, project = lab_run.spec.lab, lab_run.spec.project_id
        runs = await self.api.flow_runs(
            tags_all=[f"{LAB_TAG}{lab}", f"{PROJECT_TAG}{project}"], limit=HISTORY_LIMIT
        )
        for run in runs:
            owner = owner_of(run.get("tags") or [])
            if owner != user_id:
                who = f"<@{owner}>" if owner else "someone outside chat (CLI, UI or a schedule)"
                raise Refused(f"lab `{lab}` in project `{project}` belongs to {who}: pick another name")
        if runs:
            return  # every run of this lab is the user's own: they may start it again
        unknown = f"could not check whether lab `{lab}` already exists in project `{project}`: try again"
        try:
            found = await self.off_loop(live_lab, project, lab)
        except CommandError:  # the look-up took too long
            raise Refused(unknown) from None
        except Exception as exc:  # noqa: BLE001 - no credentials, API down...: refuse rather than guess
            log.warning("looking for live lab %s in %s failed: %r", lab, project, exc)
            raise Refused(unknown + " (the error is in the receiver's log)") from None
        if found:
            raise Refused(
                f"lab `{lab}` already exists in project `{project}` ({found}) and was not started by you "
                "through chat: pick another name"
            )

    async def act_on_lab(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        """`down` and `extend`: only a lab started through chat, found by project, lab, deployment and tag."""
        lab = command.lab or ""
        if command.action == "extend":
            self.policy.check_ttl(user_id, command.ttl_hours or 0, "duration")
        provision = await self._deployment_id("up")
        project = command.project or await self._project_of(lab, provision)
        self.policy.check_project(project)
        runs = await self.api.flow_runs(
            tags_all=[CHAT_TAG, f"{LAB_TAG}{lab}", f"{PROJECT_TAG}{project}"],
            deployment_ids=[provision],
            limit=1,
        )
        if not runs:
            raise CommandError(
                f"no lab `{lab}` was started through chat in project `{project}`: nothing to "
                f"{command.action} (labs started elsewhere: `gke-lab list`)"
            )
        source = runs[0]
        owner = owner_of(source.get("tags") or [])
        self.policy.check_owner(user_id, command, owner)
        recorded = (source.get("parameters") or {}).get("spec")
        if (
            not isinstance(recorded, dict)
            or recorded.get("lab") != lab
            or recorded.get("project_id") != project
        ):
            raise CommandError(
                f"the run that started lab `{lab}` does not record its spec: end it with `gke-lab down` "
                "and the spec it was made with"
            )
        credentials = (source.get("parameters") or {}).get("credentials_block")
        if command.action == "down":
            # Exactly what `up` made: the recorded spec, never a blueprint resolved again.
            parameters: dict[str, Any] = {"spec": recorded, "blueprint": None, "overrides": []}
        else:
            # extend-lab addresses the lab by identity (its labels), not by spec.
            parameters = {"project_id": project, "lab": lab, "hours": command.ttl_hours}
        if credentials:
            parameters["credentials_block"] = credentials
        deployment = await self.api.deployment(self.settings.deployments[command.action])
        verb = {"down": "teardown", "extend": "extend"}[command.action]
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters=parameters,
            tags=lab_tags(project, lab, owner),
            name=f"{verb} {lab}@{project}",
            idempotency_key=f"{key}:{command.action}",
        )
        what = "tearing down" if command.action == "down" else f"extending by {command.ttl_hours}h"
        return self._started(created.run, created.created, form, f"{what} lab `{lab}`")

    async def _project_of(self, lab: str, provision: str) -> str:
        """The one project (among those chat may target) where chat started `lab`; else say what to add."""
        runs = await self.api.flow_runs(
            tags_all=[CHAT_TAG, f"{LAB_TAG}{lab}"], deployment_ids=[provision], limit=HISTORY_LIMIT
        )
        tagged = {tag_value(r.get("tags") or [], PROJECT_TAG) for r in runs}
        projects = {p for p in tagged if p is not None} & self.policy.allowed_projects
        if not projects:
            raise CommandError(
                f"no lab `{lab}` was started through chat: nothing to act on (labs started elsewhere: "
                "`gke-lab list`)"
            )
        if len(projects) > 1:
            names = ", ".join(f"`{p}`" for p in sorted(projects))
            raise CommandError(f"lab `{lab}` exists in projects {names}: add `project=ID`")
        return projects.pop()

    def _started(self, run: dict[str, Any], created: bool, form: dict[str, str], what: str) -> str:
        link = f"<{self.settings.run_url(run['id'])}|{run['name']}>"
        if not created:
            return f":repeat: this command was already received; no new run: {link}"
        if form.get("response_url") and self.watch(run["id"], form["response_url"]):
            return f":rocket: {what}: {link} (I will post the outcome here)"
        return f":rocket: {what}: {link} (follow it there)"

    # ---------------------------------------------------------------- pools

    def identity_of(self, user_id: str) -> str:
        """The Google account a lab claimed by this Slack user is granted to; refused when none is mapped."""
        identity = self.settings.identities.get(user_id)
        if identity is None:
            raise Refused(
                f"you (<@{user_id}>) have no Google account on record, and a claimed lab is granted to one: "
                f"ask an admin to add `{user_id}=you@example.com` to GKE_LAB_CHATOPS_IDENTITIES"
            )
        return identity

    async def claim(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        """Start a claim-lab run and answer at once with the place in line; the card follows when served."""
        identity = self.identity_of(user_id)
        pool = command.pool or ""
        deployment = await self.api.deployment(self.settings.deployments["claim"])
        # Claims of a pool are served in the order their runs start: every one not finished is ahead.
        ahead = await self.api.flow_runs(
            tags_all=[f"{POOL_TAG}{pool}"],
            deployment_ids=[str(deployment["id"])],
            states=["SCHEDULED", "PENDING", "RUNNING"],
            limit=HISTORY_LIMIT,
        )
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters={"pool": pool, "identity": identity},
            tags=["gke-lab", CHAT_TAG, f"{POOL_TAG}{pool}", f"{OWNER_TAG}{user_id}"],
            name=f"claim {pool}",
            idempotency_key=f"{key}:claim",
        )
        what = f"claiming a lab of pool `{pool}` for {identity}"
        answer = self._started(created.run, created.created, form, what)
        if not created.created:
            return answer
        return answer + "\n" + line_position(len(ahead), provision_estimate())

    async def release(self, command: Command, user_id: str, form: dict[str, str], key: str) -> str:
        """Start a release-lab run: the pool core lets only the claimant (or an admin) release."""
        identity = self.identity_of(user_id)
        lab, pool = command.lab or "", command.pool or ""
        deployment = await self.api.deployment(self.settings.deployments["release"])
        created = await self.api.create_flow_run(
            deployment["id"],
            parameters={
                "pool": pool,
                "lab": lab,
                "requester": identity,
                "admin": self.policy.is_admin(user_id),
            },
            tags=["gke-lab", CHAT_TAG, f"{POOL_TAG}{pool}", f"{LAB_TAG}{lab}", f"{OWNER_TAG}{user_id}"],
            name=f"release {lab}",
            idempotency_key=f"{key}:release",
        )
        return self._started(created.run, created.created, form, f"releasing lab `{lab}` (it is torn down)")

    async def pool_status(self, pool: str | None) -> str:
        """The pools' status table the latest maintain-pools run published (one pool's section if named)."""
        artifact = await self.api.latest_artifact(POOL_STATUS_KEY)
        if not artifact:
            return "no pool status yet: the maintain-pools deployment publishes it (every 5 minutes)"
        text = str(artifact.get("data") or "")
        if pool:
            section = pool_section(text, pool)
            if section is None:
                return f"pool `{pool}` is not in the latest status (`/lab pool` lists every pool)"
            text = section
        when = str(artifact.get("updated") or artifact.get("created") or "")[:16].replace("T", " ")
        return f"*Lab pools* (as of {when} UTC)\n" + in_code_block(text.strip(), STATUS_CHARS)

    async def status(self, lab: str | None, user_id: str) -> str:
        tags = ["gke-lab", f"{LAB_TAG}{lab}"] if lab else ["gke-lab", f"{OWNER_TAG}{user_id}"]
        runs = await self.api.flow_runs(tags_all=tags, limit=5 if lab else 20)
        if not runs:
            return f"no runs for lab `{lab}`" if lab else "you have no labs started through chat"
        lines = [self._run_line(r) for r in runs]
        if lab:
            # The newest run: where it is now (phase, elapsed, estimate), from its progress artifact.
            lines[0] += await self._progress(runs[0])
        return ("*Lab* `" + lab + "`\n" if lab else "*Your recent lab runs*\n") + "\n".join(lines)

    async def _progress(self, run: dict[str, Any]) -> str:
        artifact = await self.api.progress_artifact(run["id"])
        if not artifact:
            return ""
        data = artifact.get("data")
        try:
            percent = f"{float(data):.0f} %" if data is not None else "?"
        except (TypeError, ValueError):
            percent = "?"
        description = str(artifact.get("description") or "").replace("`", "'")[:300]
        return f"\n    {percent}: {description}" if description else f"\n    {percent}"

    async def list_labs(self) -> str:
        runs = await self.api.flow_runs(tags_all=["gke-lab"], limit=HISTORY_LIMIT)
        latest: dict[str, dict[str, Any]] = {}
        for run in runs:  # newest first: keep each lab's latest run
            lab = tag_value(run.get("tags") or [], LAB_TAG)
            if lab and lab not in latest:
                latest[lab] = run
        if not latest:
            return "no labs started through Prefect yet"
        return "*Labs*\n" + "\n".join(
            f"• `{lab}` (owner {_mention(owner_of(r['tags']))}): " + self._run_line(r)
            for lab, r in sorted(latest.items())
        )

    def _run_line(self, run: dict[str, Any]) -> str:
        state = (run.get("state") or {}).get("name") or run.get("state_name") or "?"
        return f"<{self.settings.run_url(run['id'])}|{run['name']}>: {state}"

    async def _deployment_id(self, action: str) -> str:
        deployment = await self.api.deployment(self.settings.deployments[action])
        return str(deployment["id"])

    # ---------------------------------------------------------------- outcome

    def watch(self, run_id: str, response_url: str) -> bool:
        """Follow the run and post its outcome; False when max_watchers are already following runs."""
        if len(self.watchers) >= self.settings.max_watchers:
            log.warning("not watching run %s: %d watchers already", run_id, len(self.watchers))
            return False
        task = asyncio.create_task(self._watch(run_id, response_url))
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)
        return True

    async def _watch(self, run_id: str, response_url: str) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.watch_hours * 3600
        while True:
            try:
                run = await self.api.flow_run(run_id)
            except PrefectApiError:
                run = None
            state = (run or {}).get("state") or {}
            if run is not None and state.get("type") in TERMINAL_STATES:
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
        took = run.get("total_run_time")
        text = f":white_check_mark: {link} completed" + (
            f" in {duration(float(took))}" if isinstance(took, int | float) and took > 0 else ""
        )
        return text + ("\n" + str(card["data"]) if card else "")

    async def aclose(self) -> None:
        for task in list(self.watchers):
            task.cancel()
        for task in list(self.watchers):
            with contextlib.suppress(BaseException):
                await task
        self.watchers.clear()
        await self._http.aclose()
        await self.api.aclose()
        self._checks.shutdown(wait=False, cancel_futures=True)


def create_app(settings: Settings, api: PrefectApi | None = None) -> Starlette:
    chatops = ChatOps(settings, api)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await chatops.aclose()

    app = Starlette(
        routes=[Route("/slack/commands", chatops.commands, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )
    app.state.chatops = chatops
    return app
