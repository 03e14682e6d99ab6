"""docs/operations.md against the product: its deployment table is prefect.yaml's, its order is the
walkthrough's, and the chat section stays at the end."""

from __future__ import annotations

import re

import yaml

from tests.docs.runnable import REPO, runnable_blocks

GUIDE = REPO / "docs" / "operations.md"


def table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in GUIDE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_deployment_table_lists_every_deployment_of_prefect_yaml_as_declared():
    declared = {d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]}
    rows = table_rows()
    assert set(rows) == set(declared)
    words = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    assert f"declares {words[len(declared)]} deployments" in " ".join(GUIDE.read_text().split())
    for name, deployment in declared.items():
        _, flow, parameters, schedule, _ = rows[name]
        assert f"`{deployment['entrypoint']}`" == flow, name
        for key, value in (deployment.get("parameters") or {}).items():
            if key in ("overrides", "dry_run", "exclude"):
                continue
            shown = (
                value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
            )
            assert f"{key}: {shown}" in parameters, (name, key, parameters)
        if "projects" not in (deployment.get("parameters") or {}) and name == "reap-expired-labs":
            assert "GKE_LAB_REAPER_PROJECTS" in parameters
        for entry in deployment.get("schedules") or []:
            cron = entry["cron"]
            assert f"`{cron}`" in schedule or cron == "0 8 * * 1-5" and "08:00 UTC Mon-Fri" in schedule, name
            assert ("**inactive**" in schedule) == (entry.get("active") is False), name
        if not deployment.get("schedules"):
            assert schedule == "-", name


def test_the_guide_covers_the_set_up_in_order_and_keeps_the_chat_sections_last():
    headings = re.findall(r"^## (.+)$", GUIDE.read_text(), re.MULTILINE)
    numbered = [h for h in headings if re.match(r"\d+\. ", h)]
    words = ["Install", "PostgreSQL", "server", "pool", "Blocks", "deployments", "Workers", "One lab",
             "Two labs", "Tear", "Stop", "reaper"]  # fmt: skip
    assert len(numbered) == len(words)
    for heading, word in zip(numbered, words, strict=True):
        assert word.lower() in heading.lower(), (heading, word)
    chat = [i for i, h in enumerate(headings) if "chat" in h.lower()]
    assert chat and chat[0] > headings.index(numbered[-1])
    assert all(
        i == j for i, j in zip(chat, range(chat[0], len(headings)), strict=False)
    )  # chat sections last


def test_runnable_blocks_exist_where_the_guide_promises_them():
    blocks = runnable_blocks(GUIDE)
    text = "\n".join(b.text for b in blocks)
    for needed in ("createdb", "PREFECT_API_DATABASE_CONNECTION_URL=\"postgresql+asyncpg://postgres:${PGPASSWORD}@",
                   "prefect server start", "prefect work-pool create gke-labs", "gke-lab blocks register",
                   "prefect --no-prompt deploy --all", "GKE_LAB_EMULATOR_HOST=", "prefect worker start",
                   "create_flow_run", "master_authorized_networks", "teardown-lab", "kill "):  # fmt: skip
        assert needed in text, needed
    assert [b.is_stop for b in blocks][-1] is True
    readme = runnable_blocks(REPO / "README.md")
    assert readme and all("master_authorized_networks" in b.text for b in readme if "provision-lab" in b.text)
