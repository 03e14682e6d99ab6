"""The Prefect UI in Debian's headless Chromium (Playwright, no browser download): open provision-lab,
start a custom run from the form with a changed lab name and TTL, and see it complete with artifacts;
then two labs from the form, only the lab name differing, each torn down alone from the form."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.fixtures_emulator import LOCAL_NETWORK
from tests.fixtures_servers import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAB, PROJECT = "ui-lab", "lab-charlie"
OVERRIDES = [
    f"lab={LAB}",
    "ttl_hours=1.5",
    f"project_id={PROJECT}",
    # The workers reach the emulated control plane from 127.0.0.1.
    LOCAL_NETWORK,
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: .ci/run must `apt-get install -y chromium` (never `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots():
    path = Path(os.environ.get("GKE_LAB_SCREENSHOTS") or tempfile.mkdtemp(prefix="gke-lab-ui-"))
    path.mkdir(parents=True, exist_ok=True)
    yield path
    if not os.environ.get("GKE_LAB_SCREENSHOTS"):
        shutil.rmtree(path, ignore_errors=True)


def open_custom_run(page) -> None:
    """Open the deployment's Run menu and pick Custom run. A click that lands while the page is still
    hydrating (slow under a loaded server) opens no menu: click again until the menu is there."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    custom = page.get_by_role("menuitem", name="Custom run")
    for _ in range(3):
        page.get_by_role("button", name="Run", exact=True).click()
        try:
            custom.wait_for(timeout=20_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    custom.click()


def submit(page, stack: Stack, deployment: str, overrides: list[str]) -> None:
    """Click Submit until the form has created its run: the UI's "scheduled to start now" toast, or the run
    itself (the toast is gone after a few seconds and a loaded browser may render it late). A click that
    lands while the form is still validating its last edit submits nothing: it is clicked again after
    30 s without a run (a run only this form creates, so a second run would fail the test's lookup)."""
    deployment_id = stack.deployment_id(deployment)
    toast = page.get_by_text("scheduled to start now").first

    def created() -> bool:
        return toast.is_visible() or any(
            r["parameters"].get("overrides") == overrides and r["deployment_id"] == deployment_id
            for r in stack.flow_runs()
        )

    for _ in range(4):
        page.get_by_role("button", name="Submit").click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if created():
                return
            page.wait_for_timeout(500)
    raise AssertionError("the form's Submit created no run")


def test_custom_run_from_the_ui_provisions_a_lab(sqlite_stack: Stack, browser, shots: Path):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Offline: the UI pings an analytics host; only the local server may be reached.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(sqlite_stack.ui_url + "/")
        page.get_by_role("link", name="Deployments").first.click()
        page.get_by_role("link", name="provision-lab").first.click()
        open_custom_run(page)

        def field(param: str):
            # The form's fields: a label row, then the input(s) in a fieldset of the same container.
            return page.locator(f"xpath=//label[normalize-space()='{param} (Optional)']/../../..")

        run_name = page.get_by_label("Run Name")
        run_name.wait_for()
        run_name.fill("ui-custom-run")
        field("blueprint").locator("textarea").first.fill("small-zonal")
        overrides = field("overrides")
        for n, value in enumerate(OVERRIDES, start=1):
            overrides.get_by_role("button", name="Add item").click()
            items = overrides.locator("textarea")
            expect(items).to_have_count(n)
            items.nth(n - 1).fill(value)
        page.screenshot(path=str(shots / "custom-run-form.png"), full_page=True)
        submit(page, sqlite_stack, "provision-lab", OVERRIDES)
        page.screenshot(path=str(shots / "submitted.png"))

        # Found by what the form sent, not by its name: the UI may still replace a typed run name with a
        # generated one while the deployment loads, and that is not what this test is about.
        runs = [r for r in sqlite_stack.flow_runs() if r["parameters"].get("overrides") == OVERRIDES]
        (run,) = runs
        assert run["parameters"]["blueprint"] == "small-zonal"
        assert run["parameters"]["overrides"] == OVERRIDES
        done = sqlite_stack.wait_run(run["id"], timeout=600)
        assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"

        # The run page shows it completed, with its artifacts.
        page.goto(f"{sqlite_stack.ui_url}/v2/runs/flow-run/{run['id']}")
        page.get_by_text("Completed").first.wait_for()
        page.get_by_role("tab", name="Artifacts").or_(page.get_by_text("Artifacts", exact=True)).first.click()
        card_key = f"{LAB}-{PROJECT}-lab-card"
        page.get_by_text(card_key).first.wait_for()
        page.screenshot(path=str(shots / "run-artifacts.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        raise
    finally:
        context.close()

    clusters = sqlite_stack.emulator.project_state(PROJECT)["clusters"]
    (cluster,) = [c for c in clusters if c["resourceLabels"].get("gke-lab") == LAB]
    assert cluster["status"] == "RUNNING"
    # TTL 1.5 h from the form: the expiry label is 5400 s after the run's creation (to the second).
    stamp = int(datetime.fromisoformat(done["created"].replace("Z", "+00:00")).timestamp())
    assert int(cluster["resourceLabels"]["gke-lab-expires"]) == stamp + 5400


def submit_custom_run(page, stack: Stack, deployment: str, overrides: list[str]) -> None:
    """Deployments > DEPLOYMENT > Run > Custom run; blueprint small-zonal and OVERRIDES; Submit."""
    from playwright.sync_api import expect

    page.goto(stack.ui_url + "/")
    page.get_by_role("link", name="Deployments").first.click()
    page.get_by_role("link", name=deployment, exact=True).first.click()
    open_custom_run(page)

    def field(param: str):
        return page.locator(f"xpath=//label[normalize-space()='{param} (Optional)']/../../..")

    page.get_by_label("Run Name").wait_for()
    field("blueprint").locator("textarea").first.fill("small-zonal")
    items_field = field("overrides")
    for n, value in enumerate(overrides, start=1):
        items_field.get_by_role("button", name="Add item").click()
        items = items_field.locator("textarea")
        expect(items).to_have_count(n)
        items.nth(n - 1).fill(value)
    submit(page, stack, deployment, overrides)


def test_two_labs_from_the_ui_form_only_the_lab_differing(sqlite_stack: Stack, browser, shots: Path):
    project = "lab-bravo"

    def overrides(lab: str) -> list[str]:
        return [f"lab={lab}", f"project_id={project}", OVERRIDES[-1]]

    def lab_state(lab: str) -> dict[str, list]:
        st = sqlite_stack.emulator.state()["projects"].get(project, {})
        marker = f'"lab":"{lab}"'
        return {
            "clusters": [c for c in st.get("clusters", []) if c["resourceLabels"].get("gke-lab") == lab],
            **{
                kind: sorted(r.get("name") or r.get("email") for r in st.get(kind, [])
                             if marker in (r.get("description") or "").replace(" ", ""))
                for kind in ("networks", "subnetworks", "routers", "serviceAccounts")
            },
        }  # fmt: skip

    def run_from_form(page, deployment: str, lab: str) -> None:
        submit_custom_run(page, sqlite_stack, deployment, overrides(lab))
        (run,) = [
            r
            for r in sqlite_stack.flow_runs()
            if r["parameters"].get("overrides") == overrides(lab)
            and r["deployment_id"] == sqlite_stack.deployment_id(deployment)
        ]
        done = sqlite_stack.wait_run(run["id"], timeout=600)
        assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        run_from_form(page, "provision-lab", "form-one")
        run_from_form(page, "provision-lab", "form-two")
        one, two = lab_state("form-one"), lab_state("form-two")
        for kind, found in one.items():
            assert found and two[kind], kind
        assert [c["name"] for c in one["clusters"]] == ["gke-form-one"]
        assert [c["name"] for c in two["clusters"]] == ["gke-form-two"]
        assert not set(one["networks"]) & set(two["networks"])

        run_from_form(page, "teardown-lab", "form-one")
        assert not any(lab_state("form-one").values())
        assert lab_state("form-two") == two and two["clusters"][0]["status"] == "RUNNING"

        run_from_form(page, "teardown-lab", "form-two")
        assert not any(lab_state("form-two").values())
    except Exception:
        page.screenshot(path=str(shots / "two-labs-failure.png"), full_page=True)
        raise
    finally:
        context.close()
