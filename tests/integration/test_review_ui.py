"""A reviewer decides a paused run in the Prefect UI, in a real browser.

A real `prefect server` (UI on) runs on a free loopback port with a PREFECT_HOME of its
own; `vidpipe run` runs a small gated placeholder pipeline in another process against it,
and `vidpipe media serve` serves its media store (the same home, so the same signing
key). Once vidpipe's database says `awaiting_approval` and the flow run is PAUSED,
headless Chromium (Debian's `chromium`, driven by Playwright's Python package with
`executable_path`; Playwright's own browser downloads do not work here) opens the review
artifact's page: every picture on it must have loaded (`naturalWidth > 0`: thumbnails
served by the media endpoint) and every media link must answer 200. Then it opens the
run's page, clicks Resume, fills the form Prefect generates from `ReviewDecision`'s JSON
schema (decision, notes, reviewer) and submits it. The `vidpipe run` process must then
exit 0, the run be `completed`, and the approval be recorded with the reviewer and notes.

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

Two things about Prefect 3.8.8's UI that the resume form depends on:

- The UI's JavaScript calls the API at PREFECT_UI_API_URL, which defaults to port 4200
  whatever `--port` says ("Can't connect to Server API at http://127.0.0.1:4200/api"), so
  the server is started with PREFECT_UI_API_URL set to its own API.
- The Decision field is a select whose options open in a popover teleported to <body>,
  outside the modal. A mouse click opens it and moves focus to the popover's search box,
  and the modal's focus trap pulls focus straight back, which closes it (seen: no
  role=option in the page after the click; focusin on the search box, then focusout and
  focusin on the select button). Opening it from the keyboard (focus the select, press
  Space) keeps it open; then the option is clicked as a user would.

Screenshots of the review page and of the filled form are saved in the test's tmp_path
(printed; `pytest -s` shows them). Everything started here is stopped here, also on
failure. 30-60 s on 2 cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from integration.processes import clean_env, free_port, running_prefect_server, stop, tail

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
PAUSE_TIMEOUT_S = 90  # from `vidpipe run` starting to the flow run PAUSED
FINISH_TIMEOUT_S = 90  # from submitting the form to `vidpipe run` exiting
UI_TIMEOUT_MS = 30_000
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
class Media:
    url: str  # VIDPIPE_MEDIA_URL: where `vidpipe media serve` listens
    home: Path  # the vidpipe home it serves (and the run writes to)


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Media]:
    """`vidpipe media serve` for the run's home, on a free loopback port."""
    home = tmp_path / "vidpipe-home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "media-serve.err"
    env = clean_env(VIDPIPE_HOME=str(home), VIDPIPE_MEDIA_URL=url)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidpipe.cli", "media", "serve"],
            cwd=tmp_path,
            env=env,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "media links:" not in tail(log):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vidpipe media serve did not start:\n{tail(log)}")
            time.sleep(0.2)
        yield Media(url, home)
    finally:
        stop([proc])


@dataclass
class VidpipeRun:
    proc: subprocess.Popen[bytes]
    home: Path
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return f"stdout:\n{tail(self.stdout)}\nstderr:\n{tail(self.stderr)}"


@pytest.fixture
def start_run(tmp_path: Path, prefect_server: Server, media: Media) -> Iterator:
    """Start `vidpipe run FILE` in another process on the test server; stopped at the end
    if it is still running."""
    started: list[VidpipeRun] = []

    def start(text: str) -> VidpipeRun:
        pipeline = tmp_path / "gated-ui.yaml"
        pipeline.write_text(textwrap.dedent(text))
        home = tmp_path / "vidpipe-home"
        env = clean_env(
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_HOME=str(tmp_path / "prefect-client-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            VIDPIPE_HOME=str(home),
            VIDPIPE_MEDIA_URL=media.url,
        )
        stdout, stderr = tmp_path / "vidpipe-run.out", tmp_path / "vidpipe-run.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vidpipe.cli", "run", str(pipeline)],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        started.append(VidpipeRun(proc, home, stdout, stderr))
        return started[-1]

    try:
        yield start
    finally:
        for run in started:
            stop([run.proc])
        from vidpipe import db

        db.reset_engines()  # close the pool on the test's SQLite file


def _wait_paused(run: VidpipeRun, server: Server):
    """The run's row once vidpipe's database says `awaiting_approval` and the Prefect
    server says the flow run is PAUSED (the status is recorded just before the pause)."""
    from sqlalchemy.exc import OperationalError

    from vidpipe import db

    engine = db.make_engine(f"sqlite:///{run.home}/vidpipe.db")
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    row, state = None, None
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            pytest.fail(f"vidpipe run exited {run.proc.returncode} early:\n{run.output()}")
        lines = tail(run.stdout).split()
        if lines and re.fullmatch(r"[0-9a-f]{32}", lines[0]):  # the run id, printed first
            with contextlib.suppress(OperationalError):  # the file or tables not made yet
                row = db.get_run(engine, lines[0])
        if row is not None and row.status == "awaiting_approval" and row.flow_run_id:
            response = httpx.get(f"{server.api_url}/flow_runs/{row.flow_run_id}", timeout=5)
            state = response.json().get("state") or {}
            if state.get("type") == "PAUSED":
                return engine, row
        time.sleep(0.3)
    pytest.fail(
        f"the run never paused (vidpipe: {row and row.status}, Prefect: {state}):\n" + run.output()
    )


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


def _read_the_review_page(server: Server, media: Media, flow_run_id: str, tmp_path: Path):
    """Open the review artifact in headless Chromium: every picture loaded, every media
    link answering 200. Returns (the page's screenshot, pictures, links)."""
    from playwright.sync_api import sync_playwright

    page_png = tmp_path / "review-page.png"
    artifact_id = _review_artifact_id(server, flow_run_id)
    with sync_playwright() as pw:
        browser = _browser(pw, tmp_path)
        try:
            page = browser.new_page()
            try:
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
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                    (tmp_path / "failure.html").write_text(page.content())
                    print(f"\nUI at the failure: {tmp_path / 'failure.png'}, failure.html")
                raise
        finally:
            browser.close()
    media_links = [u for u in links if u.startswith(f"{media.url}/media/")]
    assert len(media_links) >= 4, f"two thumbnails and two links expected: {links}"
    for url in media_links:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, (url, response.status_code)
    assert all(width > 0 and src.startswith(media.url) for src, width in pictures), pictures
    return page_png, pictures, media_links


def _approve_in_the_browser(server: Server, flow_run_id: str, tmp_path: Path) -> Path:
    """Fill and submit the resume form in headless Chromium; returns the screenshot of the
    filled form. On failure, the page's screenshot and HTML are left in tmp_path."""
    from playwright.sync_api import expect, sync_playwright

    form_png = tmp_path / "review-form.png"
    with sync_playwright() as pw:
        browser = _browser(pw, tmp_path)
        try:
            page = browser.new_page()
            try:
                page.goto(f"{server.url}/runs/flow-run/{flow_run_id}")
                page.get_by_role("button", name="Resume").click()
                dialog = page.get_by_role("dialog")
                expect(dialog.get_by_text("Resume Flow Run")).to_be_visible()

                def field(title: str):
                    label = page.locator(
                        ".schema-form-property__label", has_text=re.compile(f"^{title}")
                    )
                    return dialog.locator(".schema-form-property").filter(has=label)

                decision = field("Decision").locator("button.p-select-button__control")
                decision.focus()
                page.keyboard.press("Space")  # a click is undone by the modal's focus trap
                page.get_by_role("option").filter(has_text=re.compile(r"^\s*approve\s*$")).click()
                expect(decision).to_have_text(re.compile(r"^\s*approve\s*$"))
                field("Notes").locator("textarea").fill(NOTES)
                field("Reviewer").locator("textarea").fill(REVIEWER)
                expect(field("Notes").locator("textarea")).to_have_value(NOTES)
                expect(field("Reviewer").locator("textarea")).to_have_value(REVIEWER)
                page.screenshot(path=str(form_png))
                print(f"\nscreenshot of the filled resume form: {form_png}")

                with page.expect_response(
                    lambda r: (
                        r.request.method == "POST"
                        and r.url.endswith(f"/flow_runs/{flow_run_id}/resume")
                    )
                ) as resumed:
                    dialog.get_by_role("button", name="Submit").click()
                response = resumed.value
                body = response.json()
                assert response.ok and body.get("status") == "ACCEPT", (
                    f"the server refused the form: {response.status} {body}; "
                    f"sent {response.request.post_data}"
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                    (tmp_path / "failure.html").write_text(page.content())
                    print(f"\nUI at the failure: {tmp_path / 'failure.png'}, failure.html")
                raise
        finally:
            browser.close()
    return form_png


def test_a_reviewer_approves_a_paused_run_in_the_prefect_ui(
    tmp_path: Path, prefect_server: Server, media: Media, start_run
) -> None:
    from vidpipe import db

    run = start_run(GATED)
    engine, row = _wait_paused(run, prefect_server)
    assert db.approvals(engine, row.id) == [], "nothing decided before the reviewer"

    page_png, pictures, links = _read_the_review_page(
        prefect_server, media, row.flow_run_id, tmp_path
    )
    assert page_png.stat().st_size > 0 and len(pictures) == 2

    form_png = _approve_in_the_browser(prefect_server, row.flow_run_id, tmp_path)
    assert form_png.stat().st_size > 0

    try:
        code = run.proc.wait(timeout=FINISH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vidpipe run did not finish after the approval:\n{run.output()}")
    assert code == 0, f"vidpipe run exited {code}:\n{run.output()}"
    assert f"run {row.id}: completed" in tail(run.stdout)

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
