"""Real processes for deployment tests: a Prefect server (SQLite or PostgreSQL), the `gke-labs` pool,
`prefect deploy --all`, process workers and the Google API emulator, each as a subprocess.

Starting a stack costs 20-30 s: the SQLite one is shared by the session, the PostgreSQL one by its module.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_emulator import NUMBER, PROJECT, EmulatorAdmin

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PGBIN_GLOB = "/usr/lib/postgresql/*/bin"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# Test projects known to the emulator (project id -> number).
PROJECTS = {
    PROJECT: NUMBER,
    "lab-alpha": 200000000001,
    "lab-bravo": 200000000002,
    "lab-charlie": 200000000003,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env() -> dict[str, str]:
    # Nothing from the calling test session's Prefect settings (e.g. a test harness) may leak in.
    return {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "GKE_LAB_EMULATOR_HOST"
    }


class RetryBusy(httpx.HTTPTransport):
    """Retries 429 and 503 as Prefect's own client does (up to 5 retries with backoff): a server on SQLite
    answers 503 while its database is locked by another writer, and the request was rolled back."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(5):
            response = super().handle_request(request)
            if response.status_code not in (429, 503):
                return response
            response.close()
            time.sleep(0.5 * 2**attempt)
        return super().handle_request(request)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    """A running Prefect server with deployments and workers, plus the emulator they talk to."""

    workdir: Path
    env: dict[str, str]
    api_url: str
    emulator_url: str
    procs: list[Proc] = field(default_factory=list)

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> Proc:
        log = self.workdir / f"{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 - owned by the child process
        popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the server's children too
            # A worker turns SIGTERM into a SIGINT to itself: SIGINT must not arrive ignored (as it does
            # when pytest itself was started in the background by a script).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, args: list[str], timeout: float = 300, cwd: Path = REPO) -> subprocess.CompletedProcess:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
        return result

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.tail()}" for p in self.procs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    # ------------------------------------------------------------------ REST helpers

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url + "/", timeout=30, transport=RetryBusy())

    def deployment_id(self, name: str) -> str:
        with self.client() as c:
            found = c.post("deployments/filter", json={"deployments": {"name": {"any_": [name]}}}).json()
        assert found, f"deployment {name} not registered"
        return found[0]["id"]

    def create_run(self, deployment: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
        with self.client() as c:
            response = c.post(
                f"deployments/{self.deployment_id(deployment)}/create_flow_run",
                json={"parameters": parameters, **extra},
            )
        assert response.status_code == 201, response.text
        return response.json()

    def flow_run(self, run_id: str) -> dict[str, Any]:
        with self.client() as c:
            return c.get(f"flow_runs/{run_id}").json()

    def wait_run(self, run_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            if run["state"]["type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s:\n{self.logs()}")

    def flow_runs(self, **filters: Any) -> list[dict[str, Any]]:
        with self.client() as c:
            return c.post("flow_runs/filter", json={"flow_runs": filters, "limit": 200}).json()

    @property
    def emulator(self) -> EmulatorAdmin:
        """The admin API of the stack's emulator."""
        return EmulatorAdmin(self.emulator_url)


def _wait_http(url: str, proc: Proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout}s:\n{proc.tail()}")


def _wait_line(proc: Proc, pattern: str, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
        if match := re.search(pattern, text):
            return match
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} never printed {pattern!r}:\n{proc.tail()}")


# ---------------------------------------------------------------------- PostgreSQL


def pg_bin() -> Path:
    found = sorted(Path("/").glob(PGBIN_GLOB.lstrip("/")))
    if not found or shutil.which("runuser") is None:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): .ci/run must "
            "`apt-get install -y postgresql` before the tests"
        )
    return found[-1]


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster owned by the `postgres` user; yields an asyncpg URL."""
    pgbin = pg_bin()
    port = free_port()
    root = workdir / "pg"
    workdir.chmod(0o755)
    root.mkdir()
    shutil.chown(root, "postgres", "postgres")

    def as_pg(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=120, cwd="/"
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    data, sock = str(root / "data"), str(root / "sock")
    as_pg(f"{pgbin}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    as_pg("mkdir", sock)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c max_connections=200"
    as_pg(f"{pgbin}/pg_ctl", "-D", data, "-l", str(root / "pg.log"), "-w", "-o", options, "start")
    try:
        as_pg(f"{pgbin}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        as_pg(f"{pgbin}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop", check=False)


# ---------------------------------------------------------------------- the stack


@contextlib.contextmanager
def prefect_stack(
    *,
    database: str = "sqlite",
    workers: int = 1,
    worker_limit: int = 1,
    latency_scale: float = 0.01,
    register_blocks: bool = True,
    scheduler: bool = False,
) -> Iterator[Stack]:
    """Emulator + Prefect server + pool + `prefect --no-prompt deploy --all` + workers, all real processes.

    `scheduler`: the server's scheduler service creates the deployments' scheduled runs (visiting them
    every 2 s); off by default, so that scheduled runs (the reaper's cron) do not interleave with what
    the tests start."""
    workdir = Path(tempfile.mkdtemp(prefix="gke-lab-stack-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, True)
        env = _clean_env()
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env.update(
            PREFECT_HOME=str(workdir / "home"),
            PREFECT_API_URL=api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED=str(scheduler).lower(),
            PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
            PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
            PYTHONUNBUFFERED="1",
        )
        if database == "postgres":
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = cleanup.enter_context(postgres(workdir))
        else:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{workdir / 'prefect.db'}"
        stack = Stack(workdir=workdir, env=env, api_url=api_url, emulator_url="")
        cleanup.callback(stack.stop)

        projects = [f"--project={pid}={num}" for pid, num in PROJECTS.items()]
        emulator = stack.start(
            "emulator",
            [
                sys.executable,
                "-m",
                "emulator",
                "--port",
                "0",
                "--latency-scale",
                str(latency_scale),
                *projects,
            ],
        )
        host = _wait_line(emulator, r"GKE_LAB_EMULATOR_HOST=(\S+)").group(1)
        stack.emulator_url = f"http://{host}"
        # Today's versions and rules, with the lab's APIs already on (as in emulator_factory).
        for pid in PROJECTS:
            stack.emulator.project_settings(pid, {"servicesEnabled": True})
        env["GKE_LAB_EMULATOR_HOST"] = host  # workers (and their flow runs) inherit it

        server = stack.start(
            "server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        )
        _wait_http(f"{api_url}/health", server, timeout=180)

        stack.run([str(BIN / "prefect"), "work-pool", "create", "gke-labs", "--type", "process"])
        if register_blocks:
            stack.run([str(BIN / "gke-lab"), "blocks", "register"])
        stack.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], timeout=600)
        for i in range(workers):
            stack.start(
                f"worker-{i}",
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "gke-labs",
                    "--type",
                    "process",
                    "--limit",
                    str(worker_limit),
                ],
            )
        yield stack


@pytest.fixture(scope="session")
def sqlite_stack() -> Iterator[Stack]:
    """Shared by the REST, UI and chat tests of a session (each uses its own lab names)."""
    with prefect_stack(database="sqlite", workers=1) as stack:
        yield stack


@pytest.fixture(scope="module")
def postgres_stack() -> Iterator[Stack]:
    # Two workers that run two flows each (--limit 2): three labs can run at once, on both workers.
    with prefect_stack(database="postgres", workers=2, worker_limit=2) as stack:
        yield stack
