"""A command line that starts at once: each command imports only what it needs (issue 16).

Structural, not timed: each command runs in a fresh interpreter, which then reports the modules it
imported. Prefect, the Google client libraries and the Kubernetes client each take seconds to import on
a small machine; a command that does not use one must not pay for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOGLE_CLIENTS = (
    "google.cloud.compute_v1",
    "google.cloud.container_v1",
    "google.cloud.kms_v1",
    "google.cloud.iam_admin_v1",
    "google.cloud.resourcemanager_v3",
    "google.cloud.service_usage_v1",
)
FLOW_SIDE = ("prefect", "prefect_gcp", "flows", "tasks", "blocks", "chatops", "emulator")
KUBERNETES = ("kubernetes",)

# Runs one command the way the console script does, then writes the names of the imported modules.
_RUN = """
import json, sys
from gke_lab.cli import main
out, code = sys.argv[1], "uncaught exception"
try:
    main(sys.argv[2:], prog_name="gke-lab")
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as f:
        json.dump({"exit_code": code, "modules": sorted(sys.modules)}, f)
"""


@dataclass(frozen=True)
class Run:
    exit_code: object
    modules: frozenset[str]
    stderr: str

    def loaded(self, packages: tuple[str, ...]) -> list[str]:
        """The packages of `packages` that were imported (a package counts when any module of it was)."""
        return [p for p in packages if any(m == p or m.startswith(p + ".") for m in self.modules)]


def run_command(tmp_path: Path, args: list[str], **env: str) -> Run:
    out = tmp_path / "modules.json"
    environment = {
        k: v for k, v in os.environ.items() if k not in ("GKE_LAB_EMULATOR_HOST", "PREFECT_API_URL")
    }
    environment.update(env, PYTHONPATH=str(ROOT), HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kube"))
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(out), *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.exists(), proc.stderr[-3000:]
    found = json.loads(out.read_text())
    return Run(found["exit_code"], frozenset(found["modules"]), proc.stderr)


@pytest.fixture
def google_says_not_found() -> Iterator[str]:
    """An endpoint that answers every REST call with Google's 404: each command stops at its first call."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body = json.dumps(
                {"error": {"code": 404, "message": "not found (test)", "status": "NOT_FOUND"}}
            ).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's naming

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
    assert seen, "the command made no request: the test would prove nothing"


def test_help_imports_neither_prefect_nor_google_clients(tmp_path):
    run = run_command(tmp_path, ["--help"])
    assert run.exit_code == 0, run.stderr
    assert run.loaded(FLOW_SIDE + GOOGLE_CLIENTS + KUBERNETES) == []


def test_offline_plan_imports_neither_prefect_nor_google_clients(tmp_path):
    run = run_command(tmp_path, ["plan", "--offline"])
    assert run.exit_code == 0, run.stderr
    assert run.loaded(FLOW_SIDE + GOOGLE_CLIENTS + KUBERNETES) == []
    assert "gke_lab.resources" not in run.modules  # the live part's resource modules


def test_offline_plan_as_json_needs_only_the_container_types_for_the_cluster_request(tmp_path):
    run = run_command(tmp_path, ["plan", "--offline", "--json"])
    assert run.exit_code == 0, run.stderr
    assert run.loaded(FLOW_SIDE + GOOGLE_CLIENTS + KUBERNETES) == ["google.cloud.container_v1"]


def test_kubeconfig_imports_only_the_container_client(tmp_path, google_says_not_found):
    run = run_command(tmp_path, ["kubeconfig"], GKE_LAB_EMULATOR_HOST=google_says_not_found)
    assert run.exit_code == 1, run.stderr
    assert "does not exist" in run.stderr
    assert run.loaded(FLOW_SIDE + GOOGLE_CLIENTS + KUBERNETES) == ["google.cloud.container_v1"]


def test_list_imports_no_prefect_or_kubernetes(tmp_path, google_says_not_found):
    run = run_command(tmp_path, ["list"], GKE_LAB_EMULATOR_HOST=google_says_not_found)
    assert run.loaded(FLOW_SIDE + KUBERNETES) == []


def test_list_that_cannot_read_the_project_fails_in_one_line(tmp_path, google_says_not_found):
    run = run_command(tmp_path, ["list"], GKE_LAB_EMULATOR_HOST=google_says_not_found)
    assert run.exit_code == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr


def test_extend_imports_no_prefect_compute_or_kubernetes(tmp_path, google_says_not_found):
    run = run_command(
        tmp_path, ["extend", "cluster", "--hours", "2"], GKE_LAB_EMULATOR_HOST=google_says_not_found
    )
    assert run.exit_code == 1, run.stderr
    assert "no cluster of lab" in run.stderr
    assert run.loaded(FLOW_SIDE + KUBERNETES + ("google.cloud.compute_v1",)) == []


@pytest.mark.parametrize("command", ["up", "down"])
def test_up_and_down_with_a_server_reach_google_before_importing_prefect(
    tmp_path, google_says_not_found, command
):
    """With PREFECT_API_URL set, everything before the first Google API request (spec, settings,
    preflight) is free of Prefect and the flows; here the preflight's first call fails, so the
    command stops there and shows what it had imported by then."""
    run = run_command(
        tmp_path,
        [command, "--quiet"],
        GKE_LAB_EMULATOR_HOST=google_says_not_found,
        PREFECT_API_URL="http://127.0.0.1:9/api",
    )
    assert run.exit_code == 3, run.stderr
    assert "preflight" in run.stderr
    assert run.loaded(FLOW_SIDE + KUBERNETES) == []
