"""What `vidpipe run` and `vidpipe show` print for a person, read as a terminal shows it.

`vidpipe run` runs in another process on a real pseudo-terminal of 100x40; everything it
writes goes through a terminal emulator (pyte) twice as wide, so a line that would wrap
at 100 columns shows as one longer line. The screen and its scrollback then hold one
copy of the counter and of the table (the live region redrew in place and left nothing
behind), no line wider than 100 columns, no content-addressed path, and the ending with
its duration, cost and Prefect UI page. `vidpipe show` is read at 100 columns too.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyte
import pytest
from typer.testing import CliRunner

from vidpipe.cli.output import out
from vidpipe.cli.progress import live_view
from vidpipe.cli.running import ending_lines

COLUMNS, LINES = 100, 40

PIPELINE = """
name: terminal-output
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: script, type: asset, asset: {kind: text, text: "Hello there. A short test."}}
  - id: voice
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1}
  - {id: frame_a, type: generate-image, config: {provider: replicate, prompt: one}}
  - {id: frame_b, type: generate-image, config: {provider: replicate, prompt: two}}
  - id: shot_a
    type: generate-animation
    inputs: {image: frame_a}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 1}
  - id: code
    type: render-code
    config: {code: "print('hi')", language: python, chars_per_second: 40, hold_s: 0.5}
  - {id: cut, type: merge-videos, inputs: {segments: [shot_a, code]}}
"""

COUNTER = re.compile(r"\d+/\d+ done")


def in_terminal(args: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, bytes]:
    """Run `vidpipe ARGS` with stdin, stdout and stderr on a pseudo-terminal of
    COLUMNS x LINES; returns its exit code and every byte it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidpipe.cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed (the process ended)
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=30), b"".join(chunks)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def scrollback(data: bytes) -> list[str]:
    """The lines a person can scroll through once the command ended (scrollback, then
    the screen), as a terminal twice as wide shows them, trailing blanks removed."""
    screen = pyte.HistoryScreen(COLUMNS * 2, LINES, history=10_000, ratio=0.5)
    pyte.ByteStream(screen).feed(data)
    width = range(screen.columns)
    history = ["".join(line[x].data for x in width) for line in screen.history.top]
    lines = [line.rstrip() for line in [*history, *screen.display]]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.fixture(scope="module")
def ran(prefect_harness, tmp_path_factory, request) -> dict[str, Any]:
    """`terminal-output` run once by `vidpipe run` on a pseudo-terminal."""
    from prefect.settings import PREFECT_API_URL

    # A short home, so that the result's whole path (printed uncut, to be copied) fits
    # 100 columns too; the pipeline file in a folder whose name has a space.
    home = Path(tempfile.mkdtemp(prefix="vp-"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    folder = tmp_path_factory.mktemp("terminal output")
    path = folder / "pipeline.yaml"
    path.write_text(textwrap.dedent(PIPELINE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDPIPE_", "NO_COLOR"))}
    env.update(
        VIDPIPE_HOME=str(home),
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(home / "results"),
        VIDPIPE_PLACEHOLDER_LATENCY_S="0.3",  # a few redraws of the live region
        COLUMNS=str(COLUMNS),
        LINES=str(LINES),
        TERM="xterm-256color",
    )
    started = time.monotonic()
    code, data = in_terminal(["run", str(path)], env)
    return {"code": code, "data": data, "home": home, "seconds": time.monotonic() - started}


def test_run_on_a_terminal_redraws_in_place_and_ends_with_one_summary(ran):
    text = ran["data"].decode("utf-8", "replace")
    lines = scrollback(ran["data"])
    shown = "\n".join(lines)
    assert ran["code"] == 0, shown[-3000:]
    assert len(COUNTER.findall(text)) >= 2, "the live region was drawn more than once"
    assert [line for line in lines if COUNTER.search(line)] == [
        line for line in lines if line.startswith("terminal-output run ")
    ]
    assert sum(bool(COUNTER.search(line)) for line in lines) == 1, shown
    assert sum(line.lstrip().startswith("node ") for line in lines) == 1, shown
    assert max(len(line) for line in lines) <= COLUMNS, shown
    assert "sha256/" not in text, "no content-addressed path, not even while running"
    assert "Traceback" not in text
    summary = lines[-1]
    assert re.fullmatch(
        r"completed in \d+(\.\d)?s|completed in \d+m\d\ds", summary.split(",")[0]
    ), summary
    assert re.search(r", \$\d+\.\d\d, ", summary), summary
    assert re.search(r"http://\S+/runs/flow-run/[0-9a-f-]{36}$", summary), summary
    table = [line for line in lines if re.match(r"\s*(script|voice|frame_a|cut)\s", line)]
    assert len(table) == 4, shown
    cut = next(line for line in table if line.lstrip().startswith("cut "))
    assert re.search(r"runs/terminal-output/[0-9a-f]{8}…/final\.mp4$", cut), cut
    assert re.search(r"\d+\.\ds", cut), "each node's duration"
    assert any(line.rstrip().endswith("voice.m4a") for line in table), table


def test_show_at_100_columns_has_durations_an_invoice_table_and_the_ui_page(ran, monkeypatch):
    from vidpipe.cli import app
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_HOME", str(ran["home"]))
    monkeypatch.setattr(out, "width", COLUMNS)
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(app, ["runs", "--json"])
        run_id = listed.stdout.split('"id": "')[1][:32]
        result = CliRunner().invoke(app, ["show", run_id[:8]])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= COLUMNS, result.stdout
    assert re.search(r"took \d+(\.\d)?s, cost \$0\.00", result.stdout), result.stdout
    assert "/runs/flow-run/" in result.stdout
    assert "sha256/" not in result.stdout and "|---" not in result.stdout, "no raw Markdown"
    [total] = [line for line in lines if line.lstrip().startswith("Total ")]
    assert total.rstrip().endswith("$0.00")
    heads = [line.split() for line in lines if line.lstrip().startswith("node ")]
    assert ["node", "type", "status", "time", "cost", "output", "/", "error"] in heads
    assert ["node", "provider", "model", "quantity", "unit", "price", "amount"] in heads
    rows = [line for line in lines if line.lstrip().startswith("frame_a ")]
    assert re.search(r"\d+\.\ds", rows[0]), rows


def _node(i: int, status: str, now: datetime) -> dict[str, Any]:
    ended = status in ("completed", "failed", "skipped")
    return {
        "id": f"node_with_a_rather_long_identifier_{i:02d}",
        "type": "generate-image",
        "status": status,
        "cache_hit": False,
        "attempts": 1,
        "cost_usd": 0.01 if ended else None,
        "output": {"uri": f"file:///m/sha256/ab/{i:064x}.png", "sha256": f"{i:064x}"}
        if status == "completed"
        else None,
        "error": "a provider refused it: " + "x" * 200 if status == "failed" else None,
        "started_at": now - timedelta(seconds=30 - i) if status != "pending" else None,
        "finished_at": now - timedelta(seconds=20 - i) if ended else None,
        "seconds": 10.0 if ended else None,
    }


@pytest.mark.parametrize("width,height", [(100, 40), (100, 12), (60, 8), (40, 4)])
def test_the_live_region_never_exceeds_the_terminal(width: int, height: int):
    now = datetime.now(UTC)
    statuses = ["completed"] * 12 + ["failed", "running", "running"] + ["pending"] * 15
    doc = {
        "run": {
            "id": "f" * 32,
            "pipeline": "a-pipeline-with-a-long-name",
            "status": "running",
            "created_at": now - timedelta(seconds=40),
            "started_at": now - timedelta(seconds=31),
            "finished_at": None,
            "actual_usd": None,
            "output": None,
            "published": None,
        },
        "nodes": [_node(i, s, now) for i, s in enumerate(statuses)],
        "variants": [],
    }
    lines = out.render_lines(live_view(doc, width, height, now), out.options.update_width(width))
    text = ["".join(s.text for s in line).rstrip() for line in lines]
    assert len(text) <= height - 1, "\n".join(text)
    assert max(len(line) for line in text) <= width, "\n".join(text)
    assert COUNTER.search(text[0]) and "2 running" in text[0] and "1 failed" in text[0]
    if height == 12:  # 30 nodes: some rows give way
        assert text[-1].startswith("+") and " more: " in text[-1], text
        assert sum("running" in line for line in text[1:]) == 2, "running nodes come first"


def test_the_ending_fits_100_columns_and_names_the_run_where_there_is_room():
    now = datetime.now(UTC)
    doc = {
        "run": {
            "id": "c" * 32,
            "status": "completed",
            "created_at": now - timedelta(seconds=80),
            "started_at": now - timedelta(seconds=75),
            "finished_at": now,
            "actual_usd": 0.42,
        },
        "nodes": [],
    }
    page = "http://127.0.0.1:54321/runs/flow-run/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
    [line] = ending_lines(doc, 100, page)
    assert line == f"completed in 1m15s, $0.42, {page}"
    [wide] = ending_lines(doc, 200, page)
    assert wide == f"run {'c' * 32}: completed in 1m15s, $0.42, Prefect UI: {page}"
    assert ending_lines(doc, 60, page) == ["completed in 1m15s, $0.42", f"Prefect UI: {page}"]
