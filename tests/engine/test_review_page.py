"""The review page a reviewer decides from, read back from the Prefect API as the UI
shows it: a placeholder run pauses at a gate over an image, a video, an audio and a
text item; every item shows its title, what it was made from, kind, duration, a
thumbnail (pictures) and a link that the media endpoint (started here, on a free port)
answers; what approving unlocks at live prices; the commands with the run's id; after a
revision, the history. Then the run summary's link to the published output, the
progress count at the pause and at the end, and the one line each node execution logs
(a cached run again: one line per hit)."""

from __future__ import annotations

import html
import io
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from engine.test_approval import Started
from vidpipe import db, media_server
from vidpipe.settings import get_settings

PIPELINE = """
name: review-page
video: {width: 160, height: 90, fps: 10}
nodes:
  - id: script
    type: asset
    title: Narration script
    asset: {kind: text, text: "Meet the harbour at dawn."}
  - id: frame
    type: generate-image
    title: Opening frame
    config: {provider: replicate, prompt: "a red sky over the harbour"}
  - id: clip
    type: generate-animation
    title: Harbour clip
    inputs: {image: frame}
    config: {provider: veo3, prompt: "slow zoom on the boats", duration_s: 2}
  - id: voice
    type: generate-voiceover
    title: Narration
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: 21m00Tcm4TlvDq8ikWAM}
  - id: side
    type: generate-animation
    title: Not reviewed
    after: [clip, voice]
    config: {provider: veo3, prompt: "a gull", duration_s: 2}
  - id: review
    type: approval
    title: Storyboard review
    inputs: {items: [frame, clip, voice, script]}
    config: {instructions: "Do the pictures match the script?", max_revisions: 2}
  - id: closing
    type: generate-animation
    title: Closing shot
    after: [review]
    inputs: {image: frame}
    config: {provider: veo3, prompt: "closing shot", duration_s: 1}
"""

ITEMS = {  # item: (title, what it was made from, kind, duration shown)
    "frame": ("Opening frame", "a red sky over the harbour", "image", None),
    "clip": ("Harbour clip", "slow zoom on the boats", "video", "2.0 s"),
    "voice": ("Narration", "Meet the harbour at dawn.", "audio", " s"),
    "script": ("Narration script", "Meet the harbour at dawn.", "text", None),
}


class Lines(logging.Handler):
    """The messages of Prefect's task-run logger, as the UI lists them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def task_lines() -> Iterator[Lines]:
    logger = logging.getLogger("prefect.task_runs")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def media(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The media endpoint on a free port, and the links pointing at it."""
    get_settings.cache_clear()
    server = media_server.serve_media(
        home / "media", media_server.signing_key(), host="127.0.0.1", port=0
    )
    url = f"http://127.0.0.1:{server.port}"
    monkeypatch.setenv("VIDPIPE_MEDIA_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        server.stop()


def latest(key: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert found, f"no artifact {key}"
    return found[0]


def sections(markdown: str) -> dict[str, str]:
    """The page's `## N. Title (`item`)` sections, by item."""
    parts = re.split(r"^## \d+\. ", markdown, flags=re.M)[1:]
    return {re.search(r"\(`([^`]+)`\)", part).group(1): part for part in parts}


def answer(url: str) -> httpx.Response:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response


def wait_for(condition: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def test_the_review_page_shows_what_a_reviewer_decides_from(
    home, write_pipeline, media: str, task_lines: Lines
):
    run = Started(write_pipeline("review-page", PIPELINE))
    run.wait_status("awaiting_approval")
    page = latest("review-page-review-review").data
    print(page)  # one rendered page, for people reading the test's output

    items = sections(page)
    assert set(items) == set(ITEMS)
    for item, (title, source, kind, duration) in ITEMS.items():
        text = items[item]
        assert text.startswith(title), text
        assert source in text.replace("\\", ""), f"{item}: what it was made from"
        assert f"kind: {kind}" in text and "size: " in text and "cost: $0.00" in text
        if duration:
            assert re.search(r"duration: \d+\.\d s", text), f"{item}: duration"
        links = [html.unescape(u) for u in re.findall(r"\]\((http[^)]+)\)", text)]
        assert links and all(u.startswith(f"{media}/media/sha256/") for u in links)
        for url in links:
            assert answer(url).content, f"{item}: its media"
        images = [html.unescape(u) for u in re.findall(r'<img src="([^"]+)"', text)]
        if kind == "audio":
            assert not images and "listen (" in text
            continue
        if kind == "text":
            assert not images and "[open the text](" in text
            assert "\n> Meet the harbour at dawn." in text, "a text item shows its text"
            continue
        assert len(images) == 1, f"{item}: a thumbnail"
        thumb = answer(images[0])
        assert thumb.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(thumb.content)) as picture:
            assert picture.format == "JPEG" and picture.width > 0
        href = html.unescape(re.search(r'<a href="([^"]+)"><img', text).group(1))
        assert href.split("?")[0] == links[0].split("?")[0], "the thumbnail opens the media"
    assert "file://" not in page
    assert "> Do the pictures match the script?" in page
    live = re.search(
        r"unlocks an estimated \$0\.00 in this placeholder run \(\$(\S+) at live", page
    )
    assert live and float(live.group(1)) > 0, "what approving unlocks, at live prices"
    assert "Approving starts: closing." in page
    for command in ("approve", "reject", "revise"):
        assert f"`vidpipe {command} {run.run_id}" in page

    # `side` starts once the items are made and ends while the gate waits: the progress
    # artifact must count it then too, as the nodes table does
    wait_for(
        lambda: (
            {r.node_id: r.status for r in db.node_runs(run.engine, run.run_id)}["side"]
            == "completed"
        ),
        "the node the gate does not hold finishes while it waits",
    )
    progress = wait_for(
        lambda: (a := latest("review-page-progress")).description.startswith("5/7") and a,
        "the progress artifact counts what the nodes table says",
    )
    table = {r.node_id: r.status for r in db.node_runs(run.engine, run.run_id)}
    assert sum(s in ("completed", "failed", "skipped") for s in table.values()) == 5
    assert table["review"] == "running"
    assert "waiting for a reviewer at review" in progress.description

    revised = run.cli(
        "revise",
        "--set",
        "frame.prompt=a brighter sky",
        "--reviewer",
        "ana",
        "--notes",
        "more light",
    )
    assert revised.exit_code == 0, revised.output
    run.wait_round(2)
    second = latest("review-page-review-review").data
    assert "(round 2)" in second and "## Revision history" in second
    history = second.split("## Revision history")[1]
    assert "**revise** by ana" in history and "`frame.prompt`" in history
    assert "a brighter sky" in history and "Notes: more light" in history
    assert "a brighter sky" in sections(second)["frame"]

    assert run.cli("approve", "--reviewer", "ana").exit_code == 0
    doc = run.finish()
    assert run.error is None, run.error
    assert doc["run"]["status"] == "completed"

    summary = latest("review-page-summary").data
    output = re.search(r"\*\*Output:\*\* \[final\.mp4\]\((http[^)]+)\)", summary)
    assert output, summary
    published = answer(output.group(1))
    assert published.headers["content-type"] == "video/mp4"
    assert "/runs/review-page/" in output.group(1)
    assert "| review | 1 | revise | ana | more light |" in summary
    assert "| review | 2 | approve | ana |" in summary
    assert latest("review-page-progress").description.startswith("7/7 nodes finished")

    made = [m for m in task_lines.messages if re.match(r"^\w+ \([\w-]+\): ", m)]
    by_node = {n: [m for m in made if m.startswith(f"{n} (")] for n in table if n != "review"}
    counts = {n: len(lines) for n, lines in by_node.items()}
    assert counts == {"script": 1, "frame": 2, "clip": 2, "voice": 1, "side": 1, "closing": 1}, made
    assert "provider placeholder for replicate" in by_node["frame"][0]
    assert "billed $0.00, cache miss" in by_node["clip"][0]
    assert by_node["script"][0].startswith("script (asset): local work, ")


CACHED = """
name: cached-lines
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: script, type: asset, asset: {kind: text, text: "a quiet harbour"}}
  - {id: frame, type: generate-image, inputs: {prompt: script}, config: {provider: replicate}}
"""


def test_a_cached_run_logs_one_line_per_hit(home, run_file, write_pipeline, task_lines: Lines):
    path = write_pipeline("cached-lines", CACHED)
    assert run_file(path)["run"]["status"] == "completed"
    task_lines.messages.clear()
    assert run_file(path)["run"]["status"] == "completed"
    hits = [m for m in task_lines.messages if m.endswith("cache hit")]
    assert sorted(hits) == [
        "frame (generate-image): provider placeholder, cache hit",
        "script (asset): local work, cache hit",
    ], task_lines.messages
    assert latest("cached-lines-progress").description.startswith("2/2 nodes finished: 2 from")
