"""`gke-lab stack up` / `gke-lab stack down`: the distributed set-up of docs/operations.md on one machine.

`up` starts, in a private directory: PostgreSQL (when `initdb` is installed; SQLite otherwise), a Prefect
server on it with analytics off, the `gke-labs` work pool, the blocks and the deployments, N process
workers and (unless credentials are given) the Google API emulator, and records what it started in a
state file. `up` again changes nothing while all of it runs. `down` stops exactly what the state file
names, each process with its whole process group, and says what it stopped.

Workers are started with SIGINT at its default disposition: Prefect's worker turns SIGTERM into a SIGINT
to itself, and a process started in the background by a non-interactive shell inherits SIGINT *ignored*,
so such a worker shrugged SIGTERM off and ran on (what looked like a 30-50 s shutdown).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import httpx

from gke_lab.cli import main

STATE_FILE = "stack.json"
POOL = "gke-labs"
DATABASE = "prefect"
STOP_SECONDS = 10.0


# ---------------------------------------------------------------------------------------------- state


@dataclass
class Process:
    name: str
    pid: int
    log: str
    port: int | None = None
    started: str | None = None  # kernel start time: a recycled pid is not ours

    def running(self) -> bool:
        return alive(self.pid) and start_time(self.pid) == self.started


@dataclass
class StackState:
    """What `stack up` started: enough for `stack down` to stop exactly that."""

    directory: str
    api_url: str
    database: str  # "postgresql" or "sqlite"
    database_url: str
    processes: list[Process] = field(default_factory=list)
    emulator_host: str | None = None
    postgres_data: str | None = None
    postgres_bin: str | None = None
    postgres_port: int | None = None

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        path.chmod(0o600)  # it holds the database password

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        try:
            data = json.loads(path.read_text())
            data["processes"] = [Process(**p) for p in data.get("processes", [])]
            return cls(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            raise click.ClickException(f"{path} is not a stack state file ({exc}); remove it") from exc


# ---------------------------------------------------------------------------------------------- helpers


def _say(text: str) -> None:
    click.echo(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _default_signals() -> None:
    # SIGINT ignored by an ancestor shell would make a Prefect worker ignore SIGTERM (see the module doc).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_process(
    name: str, args: list[str], env: dict[str, str], log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: down stops its children too
            preexec_fn=_default_signals,
        )


def stop_group(proc: Process, timeout: float = STOP_SECONDS) -> str:
    """SIGTERM to the process group, SIGKILL after `timeout` seconds; says how it ended."""
    pid = proc.pid
    if not alive(pid):
        return "was not running"
    if not proc.running():
        return "was not running (its pid now belongs to another process, left alone)"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid):
            return "stopped"
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return f"killed (still running {timeout:.0f} s after SIGTERM)"


def wait_http(url: str, pid: int, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise click.ClickException(f"exited while starting; see {log}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise click.ClickException(f"{url} not ready after {timeout:.0f} s; see {log}")


def wait_line(pattern: str, pid: int, log: Path, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, log.read_text(errors="replace") if log.exists() else ""):
            return match
        if not alive(pid):
            raise click.ClickException(f"exited while starting; see {log}:\n{_tail(log)}")
        time.sleep(0.2)
    raise click.ClickException(f"never printed {pattern!r}; see {log}")


def _tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def run_checked(args: list[str], env: dict[str, str], cwd: Path, what: str, timeout: float = 600) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise click.ClickException(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def find_initdb() -> Path | None:
    """initdb on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve()
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1] if candidates else None


def _bin(name: str) -> str:
    """A console script of this environment (prefect, gke-lab), else whatever PATH has."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def _repository() -> Path:
    """The checkout holding prefect.yaml (deploy runs there; workers run the flows from it)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "prefect.yaml").exists():
        return root
    cwd = Path.cwd()
    if (cwd / "prefect.yaml").exists():
        return cwd
    raise click.ClickException("no prefect.yaml here: run `gke-lab stack up` from the gke-lab checkout")


# ---------------------------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A private PostgreSQL cluster under the stack's directory (as the `postgres` user when root)."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
        if check and result.returncode != 0:
            raise click.ClickException(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, port: int) -> str:
        """Initialise (first time) and start; returns the asyncpg URL with the stack's password."""
        password_file = self.root / "password"
        if self.as_root:
            closed = [d for d in self.root.parents if d.exists() and not d.stat().st_mode & 0o001]
            if closed and closed[0] != self.root.parent:
                raise click.ClickException(
                    f"the postgres user cannot reach {self.root} ({closed[0]} is closed to others): "
                    "choose a --dir it can reach, e.g. under /tmp or /srv"
                )
        if not self.data.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            password_file.write_text(secrets.token_urlsafe(18))
            password_file.chmod(0o600)
            if self.as_root:
                # Postgres refuses to run as root: `postgres` owns the cluster; its parent must be searchable.
                self.root.parent.chmod(0o755)
                shutil.chown(self.root, "postgres", "postgres")
                shutil.chown(password_file, "postgres", "postgres")
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",  # the socket lives in the stack's own directory
                "--auth-host=scram-sha-256",  # TCP, which the server uses, needs the password
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        socket_dir = self.root / "sock"
        if not socket_dir.exists():
            self._run("mkdir", str(socket_dir))
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {socket_dir} -c max_connections=200"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"), "-w",
            "-o", options, "start",
        )  # fmt: skip
        exists = self._run(
            str(self.bindir / "psql"), "-h", str(socket_dir), "-p", str(port), "-U", "postgres", "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
        )  # fmt: skip
        if exists.stdout.strip() != "1":
            self._run(
                str(self.bindir / "createdb"), "-h", str(socket_dir), "-p", str(port), "-U", "postgres",
                DATABASE,
            )  # fmt: skip
        password = password_file.read_text().strip()
        return f"postgresql+asyncpg://postgres:{password}@127.0.0.1:{port}/{DATABASE}"

    def stop(self) -> str:
        if not (self.data / "postmaster.pid").exists():
            return "was not running"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        return "stopped"


# ---------------------------------------------------------------------------------------------- up / down


def _healthy(state: StackState) -> list[str]:
    """What of a recorded stack is no longer running (empty: all of it runs)."""
    gone = [p.name for p in state.processes if not p.running()]
    with contextlib.suppress(httpx.HTTPError):
        if httpx.get(f"{state.api_url}/health", timeout=5).status_code == 200:
            return gone
    return [*gone, "server (no answer)"]


def _stop(state: StackState, state_path: Path) -> None:
    for proc in reversed(state.processes):
        outcome = stop_group(proc)
        port = f", port {proc.port}" if proc.port else ""
        _say(f"{proc.name} (pid {proc.pid}{port}): {outcome}")
    if state.postgres_data and state.postgres_bin:
        pg = Postgres(Path(state.postgres_bin), Path(state.postgres_data).parent)
        _say(f"postgresql (port {state.postgres_port}, data {state.postgres_data}): {pg.stop()}")
    busy = [p.port for p in state.processes if p.port and port_in_use(p.port)]
    if state.postgres_port and port_in_use(state.postgres_port):
        busy.append(state.postgres_port)
    state_path.unlink(missing_ok=True)
    if busy:
        raise click.ClickException(f"ports still in use after stopping: {busy}")


def _environment(home: Path, api_url: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_API_DATABASE_CONNECTION_URL=database_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="5",
        PYTHONUNBUFFERED="1",
    )
    return env


@main.group("stack")
def stack_group() -> None:
    """A local team stack: PostgreSQL, a Prefect server, deployments and workers on this machine."""


@stack_group.command("up")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="Process workers.")
@click.option("--port", default=4200, show_default=True, type=click.IntRange(0, 65535), help="UI/API port.")
@click.option(
    "--dir",
    "directory",
    default=".gke-lab-stack",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Private directory: database, logs, state file.",
)
@click.option(
    "--credentials",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Service-account key file for real Google Cloud (no emulator); default: the local emulator.",
)
@click.option(
    "--latency-scale",
    default=0.05,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Emulator latency multiplier.",
)
@click.option("--sqlite", is_flag=True, help="Use SQLite even when PostgreSQL is installed.")
def up_command(
    workers: int, port: int, directory: Path, credentials: Path | None, latency_scale: float, sqlite: bool
) -> None:
    """Start the stack (idempotent: nothing changes while it runs) and print the UI address."""
    directory = directory.resolve()
    state_path = directory / STATE_FILE
    state = StackState.load(state_path)
    if state is not None:
        gone = _healthy(state)
        if not gone:
            _say(f"already running (state: {state_path}); nothing started")
            _print_usage(state)
            return
        _say(f"a previous stack is partly gone ({', '.join(gone)}): stopping the rest, then starting afresh")
        _stop(state, state_path)

    if port and port_in_use(port):
        raise click.ClickException(f"port {port} is in use: pass another --port (0 picks a free one)")
    repository = _repository()
    directory.mkdir(parents=True, exist_ok=True)
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"

    initdb = None if sqlite else find_initdb()
    if initdb is None:
        database, database_url = "sqlite", f"sqlite+aiosqlite:///{directory / 'prefect.db'}"
        _say("PostgreSQL not found (no initdb): using SQLite, fine for one machine")
        state = StackState(str(directory), api_url, database, database_url)
    else:
        pg_port = free_port()
        pg = Postgres(initdb.parent, directory / "postgres")
        database_url = pg.start(pg_port)
        _say(f"postgresql: {pg.data} on 127.0.0.1:{pg_port}, database {DATABASE}")
        state = StackState(
            str(directory),
            api_url,
            "postgresql",
            database_url,
            postgres_data=str(pg.data),
            postgres_bin=str(initdb.parent),
            postgres_port=pg_port,
        )
    state.save(state_path)  # from here on, `down` can undo whatever follows

    env = _environment(directory / "home", api_url, database_url)
    try:
        if credentials is None:
            log = logs / "emulator.log"
            emu = start_process(
                "emulator",
                [_bin("gke-lab"), "emulator", "--port", "0", "--latency-scale", str(latency_scale)],
                env,
                log,
                repository,
            )
            state.processes.append(Process("emulator", emu.pid, str(log), started=start_time(emu.pid)))
            state.save(state_path)
            state.emulator_host = wait_line(r"GKE_LAB_EMULATOR_HOST=(\S+)", emu.pid, log).group(1)
            state.processes[-1].port = int(state.emulator_host.rsplit(":", 1)[1])
            env["GKE_LAB_EMULATOR_HOST"] = state.emulator_host
            _say(f"emulator: GKE_LAB_EMULATOR_HOST={state.emulator_host}")
        else:
            env.pop("GKE_LAB_EMULATOR_HOST", None)
            env["GOOGLE_APPLICATION_CREDENTIALS"] = str(credentials.resolve())
            _say(f"Google Cloud: workers use {credentials} (no emulator)")

        log = logs / "server.log"
        server = start_process(
            "server",
            [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env,
            log,
            repository,
        )
        state.processes.append(Process("server", server.pid, str(log), port, start_time(server.pid)))
        state.save(state_path)
        wait_http(f"{api_url}/health", server.pid, log)
        _say(f"prefect server: {api_url} ({state.database}, analytics off)")

        with httpx.Client(timeout=30) as client:
            if client.get(f"{api_url}/work_pools/{POOL}").status_code == 404:
                run_checked(
                    [_bin("prefect"), "work-pool", "create", POOL, "--type", "process"],
                    env,
                    repository,
                    "pool",
                )
        run_checked([_bin("gke-lab"), "blocks", "register"], env, repository, "gke-lab blocks register")
        run_checked([_bin("prefect"), "--no-prompt", "deploy", "--all"], env, repository, "prefect deploy")
        _say(f"work pool {POOL}, blocks and deployments registered")

        for number in range(1, workers + 1):
            name = f"worker-{number}"
            log = logs / f"{name}.log"
            worker = start_process(
                name,
                [_bin("prefect"), "worker", "start", "--pool", POOL, "--type", "process", "--limit", "1"],
                env,
                log,
                repository,
            )
            state.processes.append(Process(name, worker.pid, str(log), started=start_time(worker.pid)))
            state.save(state_path)
        for proc in state.processes[-workers:]:
            wait_line(r"Worker '.*' started", proc.pid, Path(proc.log))
        _say(f"{workers} process worker(s) on {POOL}, one run each")
    except BaseException:
        _say("start-up failed: stopping what was started")
        _stop(state, state_path)
        raise
    _print_usage(state)


def _print_usage(state: StackState) -> None:
    _say(f"\nPrefect UI: {state.ui_url}")
    _say("Use it from this shell:")
    _say(f"  export PREFECT_API_URL={state.api_url}")
    if state.emulator_host:
        _say(f"  export GKE_LAB_EMULATOR_HOST={state.emulator_host}")
    _say("Stop it: gke-lab stack down")


@stack_group.command("down")
@click.option(
    "--dir",
    "directory",
    default=".gke-lab-stack",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory `stack up` used.",
)
@click.option("--purge", is_flag=True, help="Also delete the directory (database, logs).")
def down_command(directory: Path, purge: bool) -> None:
    """Stop exactly what `stack up` started (its state file says what) and say so."""
    directory = directory.resolve()
    state_path = directory / STATE_FILE
    state = StackState.load(state_path)
    if state is None:
        _say(f"no stack state in {directory}: nothing to stop")
    else:
        _stop(state, state_path)
        _say("stack stopped")
    if purge and directory.exists():
        shutil.rmtree(directory)
        _say(f"removed {directory}")
