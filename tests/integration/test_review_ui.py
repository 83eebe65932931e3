"""An operator starts a run from the Prefect UI's form and a reviewer decides it there, in
a real browser.

A real `prefect server` (UI on) runs on a free loopback port with a PREFECT_HOME of its
own; `vidpipe serve` serves the deployments against it from a folder whose path has a
space, with a pipelines folder of two files named with `_` and digits, and serves the
media store beside them (its media companion, on VIDPIPE_MEDIA_URL's port). In headless
Chromium (Debian's `chromium`, driven by Playwright's Python package with
`executable_path`; Playwright's own browser downloads do not work here):

1. the operator opens `run-pipeline`'s Run page and fills the form with the mouse: the
   pipeline from the dropdown of the folder's names, the mode from its dropdown, a
   budget; no field switches between types and there is no internal field; Submit;
2. once vidpipe's database says `awaiting_approval` and the flow run is PAUSED, the
   reviewer opens the review artifact: every picture on it must have loaded
   (`naturalWidth > 0`: thumbnails served by the media companion) and every media link
   must answer 200;
3. the reviewer opens the run's page, clicks Resume, fills the form Prefect generates
   from `ReviewDecision`'s JSON schema (decision, notes, reviewer) and submits it. The
   flow run must then complete in Prefect and in vidpipe's database with the form's mode
   and budget, and the approval be recorded with the reviewer and notes.

What Prefect 3.8.8's UI does with the review page's Markdown (its own renderer, not
HTML from a Markdown library):

- `![alt](url)` becomes an `<img>`, and `[text](url)` a link opening a new tab; but a
  link's content is its raw text, so `[![thumb](a)](b)` shows the characters, not the
  picture. The review page writes a linked thumbnail as an HTML block instead
  (`<div><a href=...><img src=...></a></div>` on a line of its own), which the UI passes
  through DOMPurify and shows as it is.
- Inline HTML in a paragraph is sanitized tag by tag (an `<a>` closes at once), so the
  HTML must be a block of its own, opened by a block tag (`<div>`): a line starting with
  `<a ...>` is a block only when nothing follows the tag on that line.

Two things about Prefect 3.8.8's UI that the forms depend on:

- The UI's JavaScript calls the API at PREFECT_UI_API_URL, which defaults to port 4200
  whatever `--port` says ("Can't connect to Server API at http://127.0.0.1:4200/api"), so
  the server is started with PREFECT_UI_API_URL set to its own API.
- A dropdown (the pipeline, the mode, the Decision) opens its options in a popover
  teleported to <body> and moves focus to the popover's search box. In headless
  Chromium a mouse click opens it and focus comes straight back to the select button,
  which closes it within 2 ms, on the Run page as in the resume modal (seen: focusin on
  the search box, then focusout and focusin on the button; no role=option after the
  click; the same with a slow press). Opened from the keyboard (focus the select, press
  Space) it stays open, and the option is clicked with the mouse. Every other field
  (budget, refresh's Add item, notes, reviewer, Submit) is used with the mouse.

Screenshots of the filled run form, the review page and the filled resume form are saved
in the test's tmp_path (printed; `pytest -s` shows them). Everything started here is
stopped here, also on failure. About 70 s on 2 cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from integration.processes import (
    clean_env,
    free_port,
    running_prefect_server,
    spawn_vidpipe,
    stop,
    tail,
    wait_for,
)

CHROMIUM = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
CHROMIUM = CHROMIUM or shutil.which("chromium")
HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine's closed network refuses them
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 90
SERVE_TIMEOUT_S = 90  # from `vidpipe serve` starting to its deployments on the server
PAUSE_TIMEOUT_S = 120  # from the operator's Submit to the flow run PAUSED
FINISH_TIMEOUT_S = 90  # from the reviewer's Submit to the flow run COMPLETED
PIPELINE = "gated_ui-2"  # the file's name in the pipelines folder: the dropdown's choice
BUDGET = "5"
UI_TIMEOUT_MS = 30_000
SUBMIT_ATTEMPTS = 4  # Submit clicked again while the server answers 503 (busy)
NOTES = "approved in the browser"
REVIEWER = "ui-reviewer"

GATED = """
name: gated-ui
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - id: clip
    type: generate-animation
    title: The sky moves
    inputs: {image: frame}
    config: {provider: veo3, prompt: "clouds drifting", duration_s: 2}
  - id: review
    type: approval
    inputs: {items: [frame, clip]}
    config: {instructions: "Is the sky right?", timeout_s: 600}
  - id: shot
    type: generate-animation
    after: [review]
    inputs: {image: frame}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 1}
"""

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),  # a hard cap; it normally takes 30-50 s
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium not found (/usr/bin/chromium or `chromium` on PATH); "
        "install Debian's chromium package to run the browser test",
    ),
    pytest.mark.skipif(
        not HAS_PLAYWRIGHT,
        reason="the playwright package is not installed (pip install playwright; its "
        "browser download is not needed: Debian's chromium is used)",
    ),
]


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT (the UI)
    api_url: str  # .../api
    log: Path


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[Server]:
    """`prefect server start` with the UI, on a free loopback port; stopped at the end."""
    home = tmp_path / "prefect-server-home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="true",
        PREFECT_UI_API_URL=f"{url}/api",  # else the UI's JavaScript calls port 4200
        PREFECT_CLI_PROMPT="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    with running_prefect_server(home, port, env, timeout_s=SERVER_START_TIMEOUT_S) as log:
        yield Server(url, f"{url}/api", log)


@dataclass
class Served:
    """`vidpipe serve` and what it was started with."""

    proc: subprocess.Popen[bytes]
    log: Path
    home: Path  # VIDPIPE_HOME (with a space)
    media_url: str  # VIDPIPE_MEDIA_URL: where its media companion listens

    def describe(self) -> str:
        return f"--- vidpipe serve log tail ---\n{tail(self.log, 4000)}"


@pytest.fixture
def served(tmp_path: Path, prefect_server: Server) -> Iterator[Served]:
    """`vidpipe serve` against the test server, started in a folder whose path has a
    space, with a pipelines folder of two files named with `_` and digits; stopped at the
    end whatever happens."""
    place = tmp_path / "ops place"
    pipelines = place / "team pipelines"
    pipelines.mkdir(parents=True)
    (pipelines / f"{PIPELINE}.yaml").write_text(textwrap.dedent(GATED))
    (pipelines / "other_1.yaml").write_text(textwrap.dedent(GATED).replace("gated-ui", "other-1"))
    home = place / "vidpipe home"
    media_url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_HOME=str(place / "prefect-client-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_RUNNER_POLL_FREQUENCY="2",  # picks the form's run up sooner (default 10 s)
        VIDPIPE_HOME=str(home),
        VIDPIPE_PIPELINES_DIR=str(pipelines),
        VIDPIPE_MEDIA_URL=media_url,
        PYTHONUNBUFFERED="1",
    )
    log = place / "serve.log"
    proc = spawn_vidpipe(["serve"], env=env, log=log, cwd=place)
    try:
        yield Served(proc, log, home, media_url)
    finally:
        stop([proc])
        from vidpipe import db

        db.reset_engines()  # close the pool on the test's SQLite file


def _deployment(server: Server, served: Served) -> dict:
    def check() -> dict | None:
        response = httpx.get(f"{server.api_url}/deployments/name/run-pipeline/run-pipeline")
        return response.json() if response.status_code == 200 else None

    return wait_for("run-pipeline served", check, SERVE_TIMEOUT_S, served, every=0.5)


def _wait_paused(served: Served, server: Server, flow_run_id: str):
    """The run's row once vidpipe's database says `awaiting_approval` and the Prefect
    server says the flow run is PAUSED (the status is recorded just before the pause)."""
    from sqlalchemy.exc import OperationalError

    from vidpipe import db

    engine = db.make_engine(f"sqlite:///{served.home}/vidpipe.db")
    seen: dict = {}

    def check():
        with contextlib.suppress(OperationalError):  # the file or tables not made yet
            seen["row"] = db.run_for_flow_run(engine, flow_run_id)
        response = httpx.get(f"{server.api_url}/flow_runs/{flow_run_id}", timeout=5)
        seen["state"] = response.json().get("state") or {}
        row = seen.get("row")
        paused = seen["state"].get("type") == "PAUSED"
        return row is not None and row.status == "awaiting_approval" and paused and row

    row = wait_for(
        lambda: f"the run paused (last seen: {seen})", check, PAUSE_TIMEOUT_S, served, 0.5
    )
    return engine, row


def _browser(pw, tmp_path: Path):
    browser = pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),  # a new, empty --user-data-dir
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1400, "height": 1000},
    )
    browser.set_default_timeout(UI_TIMEOUT_MS)
    return browser


@contextlib.contextmanager
def _open_page(tmp_path: Path) -> Iterator:
    """A new page in headless Chromium, closed at the end; on a failure, the page's
    screenshot and HTML are left in tmp_path."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw, tmp_path)
        try:
            page = browser.new_page()
            try:
                yield page
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                    (tmp_path / "failure.html").write_text(page.content())
                    print(f"\nUI at the failure: {tmp_path / 'failure.png'}, failure.html")
                raise
        finally:
            browser.close()


def _review_artifact_id(server: Server, flow_run_id: str) -> str:
    response = httpx.post(
        f"{server.api_url}/artifacts/filter",
        json={
            "artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "type": {"any_": ["markdown"]}}
        },
        timeout=10,
    )
    response.raise_for_status()
    found = [a for a in response.json() if (a.get("key") or "").endswith("-review-review")]
    assert found, f"no review artifact for flow run {flow_run_id}: {response.json()}"
    return found[0]["id"]


def _read_the_review_page(server: Server, media_url: str, flow_run_id: str, tmp_path: Path):
    """Open the review artifact in headless Chromium: every picture loaded, every media
    link answering 200. Returns (the page's screenshot, pictures, links)."""
    page_png = tmp_path / "review-page.png"
    artifact_id = _review_artifact_id(server, flow_run_id)
    with _open_page(tmp_path) as page:
        page.goto(f"{server.url}/artifacts/artifact/{artifact_id}")
        page.get_by_text("Is the sky right?").wait_for()
        page.wait_for_function(
            """() => {
                const pictures = [...document.querySelectorAll('.markdown-renderer img')];
                return pictures.length >= 2
                    && pictures.every(p => p.complete && p.naturalWidth > 0);
            }"""
        )
        pictures = page.eval_on_selector_all(
            ".markdown-renderer img",
            "els => els.map(e => [e.currentSrc, e.naturalWidth])",
        )
        links = page.eval_on_selector_all(
            ".markdown-renderer a[href]", "els => els.map(e => e.href)"
        )
        page.screenshot(path=str(page_png), full_page=True)
        print(f"\nscreenshot of the review page: {page_png}")
    media_links = [u for u in links if u.startswith(f"{media_url}/media/")]
    assert len(media_links) >= 4, f"two thumbnails and two links expected: {links}"
    for url in media_links:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, (url, response.status_code)
    assert all(width > 0 and src.startswith(media_url) for src, width in pictures), pictures
    return page_png, pictures, media_links


def _field(scope, page, title: str):
    """One field of a Prefect schema form, by its label (`mode` or `mode (Optional)`)."""
    label = page.locator(".schema-form-property__label", has_text=re.compile(f"^{title}"))
    return scope.locator(".schema-form-property").filter(has=label)


def _pick(page, field, option: str) -> None:
    """Choose `option` from a field's dropdown: opened from the keyboard (see the module's
    notes: a click's popover closes at once in headless Chromium), the option clicked."""
    from playwright.sync_api import expect

    button = field.locator("button.p-select-button__control")
    button.focus()
    page.keyboard.press("Space")
    exact = re.compile(rf"^\s*{re.escape(option)}\s*$")
    page.get_by_role("option").filter(has_text=exact).click()
    expect(button).to_have_text(exact)


def _submit(page, button, endpoint: str, server: Server):
    """Click a form's Submit and return the server's answer to the POST it makes. A busy
    Prefect server on SQLite answers 503 ("Service Unavailable": its write met another one,
    SQLITE_BUSY); Prefect's own client asks again, the UI shows an error toast and keeps
    the form filled, so the operator clicks Submit again, as this does, a few times."""
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(endpoint)
        ) as answered:
            button.click()
        response = answered.value
        if response.status != 503 or attempt == SUBMIT_ATTEMPTS:
            return response
        print(f"\nthe server was busy ({endpoint} answered 503), Submit clicked again")
        time.sleep(attempt)
    raise AssertionError("unreachable")


def _start_from_the_form(server: Server, deployment_id: str, tmp_path: Path) -> tuple[dict, Path]:
    """The operator fills `run-pipeline`'s Run page with the mouse and submits it. Returns
    the flow run the UI created and the filled form's screenshot."""
    from playwright.sync_api import expect

    form_png = tmp_path / "run-form.png"
    with _open_page(tmp_path) as page:
        page.goto(f"{server.url}/deployments/deployment/{deployment_id}/run")
        labels = page.locator(".schema-form-property__label")
        expect(labels).to_have_count(5)
        titles = [t.split(" (")[0].strip() for t in labels.all_inner_texts()]
        assert titles == ["pipeline", "mode", "budget_usd", "refresh", "approve"], titles
        expect(page.get_by_text(re.compile("Property is type"))).to_have_count(0)

        _pick(page, _field(page, page, "pipeline"), PIPELINE)
        _pick(page, _field(page, page, "mode"), "placeholder")
        budget = _field(page, page, "budget_usd").locator("input")
        budget.click()
        page.keyboard.type(BUDGET)
        expect(budget).to_have_value(BUDGET)
        refresh = _field(page, page, "refresh")
        expect(refresh.get_by_role("button", name="Add item")).to_be_visible()
        page.screenshot(path=str(form_png), full_page=True)
        print(f"\nscreenshot of the filled run form: {form_png}")

        response = _submit(
            page,
            page.get_by_role("button", name="Submit"),
            f"/deployments/{deployment_id}/create_flow_run",
            server,
        )
        assert response.ok, f"the form was refused: {response.status} {response.text()}"
        flow_run = response.json()
    return flow_run, form_png


def _approve_in_the_browser(server: Server, flow_run_id: str, tmp_path: Path) -> Path:
    """Fill and submit the resume form in headless Chromium; returns the screenshot of the
    filled form. On failure, the page's screenshot and HTML are left in tmp_path."""
    from playwright.sync_api import expect

    form_png = tmp_path / "review-form.png"
    with _open_page(tmp_path) as page:
        page.goto(f"{server.url}/runs/flow-run/{flow_run_id}")
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Resume Flow Run")).to_be_visible()

        def field(title: str):
            return _field(dialog, page, title)

        _pick(page, field("Decision"), "approve")
        field("Notes").locator("textarea").fill(NOTES)
        field("Reviewer").locator("textarea").fill(REVIEWER)
        expect(field("Notes").locator("textarea")).to_have_value(NOTES)
        expect(field("Reviewer").locator("textarea")).to_have_value(REVIEWER)
        page.screenshot(path=str(form_png))
        print(f"\nscreenshot of the filled resume form: {form_png}")

        response = _submit(
            page,
            dialog.get_by_role("button", name="Submit"),
            f"/flow_runs/{flow_run_id}/resume",
            server,
        )
        body = response.json()
        assert response.ok and body.get("status") == "ACCEPT", (
            f"the server refused the form: {response.status} {body}; "
            f"sent {response.request.post_data}"
        )
    return form_png


def test_an_operator_starts_a_run_from_the_form_and_a_reviewer_approves_it(
    tmp_path: Path, prefect_server: Server, served: Served
) -> None:
    from vidpipe import db

    deployment = _deployment(prefect_server, served)
    flow_run, run_png = _start_from_the_form(prefect_server, deployment["id"], tmp_path)
    assert flow_run["parameters"] == {
        "pipeline": PIPELINE,
        "mode": "placeholder",
        "budget_usd": float(BUDGET),
        "refresh": [],
        "approve": "wait",
    }, flow_run["parameters"]
    assert run_png.stat().st_size > 0

    engine, row = _wait_paused(served, prefect_server, flow_run["id"])
    assert (row.mode, row.budget_usd) == ("placeholder", float(BUDGET)), "the form's choices"
    assert db.approvals(engine, row.id) == [], "nothing decided before the reviewer"

    page_png, pictures, links = _read_the_review_page(
        prefect_server, served.media_url, row.flow_run_id, tmp_path
    )
    assert page_png.stat().st_size > 0 and len(pictures) == 2

    form_png = _approve_in_the_browser(prefect_server, row.flow_run_id, tmp_path)
    assert form_png.stat().st_size > 0

    def completed() -> dict | None:
        response = httpx.get(f"{prefect_server.api_url}/flow_runs/{flow_run['id']}", timeout=5)
        state = response.json().get("state") or {}
        if state.get("type") in {"FAILED", "CRASHED", "CANCELLED"}:
            pytest.fail(f"the flow run ended {state}\n{served.describe()}")
        return state if state.get("type") == "COMPLETED" else None

    wait_for("the flow run completed", completed, FINISH_TIMEOUT_S, served, every=0.5)
    finished = db.get_run(engine, row.id)
    assert finished.status == "completed", finished
    assert {n.node_id: n.status for n in db.node_runs(engine, row.id)} == {
        "frame": "completed",
        "clip": "completed",
        "review": "completed",
        "shot": "completed",
    }
    approvals = db.approvals(engine, row.id)
    assert [(a.node_id, a.round, a.decision) for a in approvals] == [("review", 1, "approve")]
    assert approvals[0].reviewer == REVIEWER
    assert approvals[0].notes == NOTES
    assert not approvals[0].revisions, "the empty Revisions field means no revisions"
