"""`gke-lab pool ...` refuses bad input before anything: exit 2, the field named, no traceback, no Prefect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gke_lab.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["claim", "Workshop", "--identity", "alice@example.com"], "pool"),
        (["claim", "workshop", "--identity", "*"], "identity"),
        (["claim", "workshop", "--identity", "domain:example.com"], "identity"),
        (["claim", "workshop", "--identity", "alice@example.com\n"], "identity"),
        (["claim", "workshop"], "identity"),  # no identity given, none in the environment
        (["release", "workshop", "Lab_1", "--identity", "alice@example.com"], "lab"),
        (["release", "workshop", "workshop-1", "--identity", "bob"], "identity"),
        (["release", "a" * 21, "workshop-1", "--identity", "alice@example.com"], "pool"),
        (["status", "no pool"], "pool"),
    ],
)
def test_bad_input_exits_2_naming_the_field(args, field, monkeypatch):
    monkeypatch.delenv("GKE_LAB_IDENTITY", raising=False)
    result = CliRunner().invoke(main, ["pool", *args])
    assert result.exit_code == 2, result.output
    assert f"error: {field}:" in result.output
    assert "Traceback" not in result.output


def test_a_refused_claim_imports_no_prefect(tmp_path):
    out = tmp_path / "modules.json"
    script = (
        "import json, sys\nfrom gke_lab.cli import main\n"
        "try:\n    main(['pool', 'claim', 'workshop', '--identity', '*'], prog_name='gke-lab')\n"
        "except SystemExit as exc:\n"
        f"    json.dump({{'code': exc.code, 'modules': sorted(sys.modules)}}, open({str(out)!r}, 'w'))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, timeout=120)
    found = json.loads(out.read_text())
    assert found["code"] == 2
    assert not [m for m in found["modules"] if m == "prefect" or m.startswith("prefect.")]


def test_pool_is_listed_in_the_help_without_importing_it():
    result = CliRunner().invoke(main, ["--help"])
    assert "pool" in result.output and "claim a ready lab" in result.output
