"""docs/operations.md as a newcomer follows it: its runnable blocks, in order, in one shell, against a real
PostgreSQL (with a password, as Debian's) and the emulator; then README's REST examples on the same
server. Two labs must overlap on the two workers, and teardown must leave nothing of any lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from tests.docs.runnable import REPO, runnable_blocks, script
from tests.fixtures_servers import BIN, free_port, pg_bin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "walk-through-pw"

# Kills every background job's process group when the script ends, however it ends.
PRELUDE = """\
set -euo pipefail
cleanup() {
  for pid in $(jobs -p); do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap cleanup EXIT
trap 'echo "FAILED in block $BLOCK" >&2' ERR
"""

# After the guide's and README's blocks: wait for every run, keep what the test checks.
EPILOGUE = """\
echo ">>> epilogue: wait for every run, record runs and the emulator's state" >&2
BLOCK=epilogue
python3 - <<'PY'
import json, os, time, urllib.request
api = os.environ["PREFECT_API_URL"]
def runs():
    request = urllib.request.Request(f"{api}/flow_runs/filter", data=b'{"limit": 200}',
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
deadline = time.monotonic() + 300
while any(r["state"]["type"] not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs()):
    assert time.monotonic() < deadline, "runs did not finish"
    time.sleep(2)
json.dump(runs(), open(os.path.expanduser("~/flow-runs.json"), "w"))
PY
curl -fsS "http://$GKE_LAB_EMULATOR_HOST/_emulator/state" > ~/emulator-state.json
"""


def start_postgres(root: Path, port: int) -> Path:
    """A PostgreSQL cluster that, like Debian's, wants a password over TCP; no database yet."""
    pgbin = pg_bin()
    root.mkdir()
    shutil.chown(root, "postgres", "postgres")
    password = root / "password"
    password.write_text(PASSWORD)
    shutil.chown(password, "postgres", "postgres")

    def as_pg(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, cwd="/")

    data = root / "data"
    as_pg(f"{pgbin}/initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust",
          "--auth-host=scram-sha-256", f"--pwfile={password}", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=100"
    as_pg(f"{pgbin}/pg_ctl", "-D", str(data), "-l", str(root / "pg.log"), "-w", "-o", options, "start")
    return data


def overlap(a: dict, b: dict) -> bool:
    def span(run: dict) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(run["start_time"]), datetime.fromisoformat(run["end_time"])

    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1


def test_the_operations_guide_and_readme_run_as_written():
    guide = runnable_blocks(REPO / "docs" / "operations.md")
    readme = runnable_blocks(REPO / "README.md")
    blocks = [b for b in guide if not b.is_stop] + readme
    stops = [b for b in guide if b.is_stop]

    work = Path(tempfile.mkdtemp(prefix="gke-lab-walkthrough-"))
    work.chmod(0o755)  # PostgreSQL runs as `postgres`
    home = work / "home"
    home.mkdir()
    pg_port, server_port, emulator_port = free_port(), free_port(), free_port()
    data = start_postgres(work / "pg", pg_port)
    try:
        substitutions = {
            "4200": str(server_port),
            "8900": str(emulator_port),
            "5432": str(pg_port),
            "--latency-scale 0.05": "--latency-scale 0.01",  # keeps the test short; same behaviour
        }
        text = PRELUDE + script(blocks, substitutions) + "\n" + EPILOGUE + script(stops, substitutions) + "\n"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "GKE_LAB_")) and k not in ("PGPASSWORD", "PYTHONPATH")
        }
        env.update(
            HOME=str(home),  # the guide's logs and the Prefect profile land here, not in the checkout
            PATH=f"{BIN}{os.pathsep}{env['PATH']}",  # as after `. .venv/bin/activate`
            PGPASSWORD=PASSWORD,  # the guide's step 2 exports it
            PYTHONPATH=os.environ.get("PYTHONPATH", ""),  # the checkout under test
            PREFECT_WORKER_QUERY_SECONDS="2",  # runs start sooner; nothing else changes
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",  # no cron run may interleave
        )
        result = subprocess.run(
            ["bash", "-c", text],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        logs = "\n".join(
            f"----- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted((home / "gke-lab-logs").glob("*.log"))
        )
        assert result.returncode == 0, f"{result.stderr[-4000:]}\n{result.stdout[-2000:]}\n{logs}"

        runs = json.loads((home / "flow-runs.json").read_text())
        failed = {r["name"]: r["state"]["type"] for r in runs if r["state"]["type"] != "COMPLETED"}
        assert not failed, f"{failed}\n{logs}"
        by_name = {r["name"]: r for r in runs}
        alpha, bravo = by_name["provision alpha@gke-detail"], by_name["provision bravo@gke-detail"]
        assert overlap(alpha, bravo), (alpha["start_time"], alpha["end_time"], bravo["start_time"])
        assert {"provision rest-demo@gke-detail", "provision readme-demo@gke-detail"} <= set(by_name)
        for lab in ("alpha", "bravo", "rest-demo", "readme-demo"):
            assert f"teardown {lab}@gke-detail" in by_name, lab

        state = json.loads((home / "emulator-state.json").read_text())["projects"]["gke-detail"]
        assert state["clusters"] == []
        marked = [
            r.get("name") or r.get("email")
            for kind in ("networks", "subnetworks", "routers", "firewalls", "serviceAccounts")
            for r in state.get(kind, [])
            if "gke-lab" in (r.get("description") or "")
        ]
        assert marked == []
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{pg_bin()}/pg_ctl", "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            cwd="/",
        )
        shutil.rmtree(work, ignore_errors=True)
