"""One file, three deliverables, end to end: the shipped `examples/product-reel.yaml`
(three variants, captions from the narration, a brand kit with a logo and an outro), at a
small size, in a folder whose path has a space.

Real media, probed and decoded: each variant's size, rate and duration; the work the
variants share ran once (in live mode: counted on the providers' fakes, and billed once);
the captions' cues parse and fall inside the speech; the logo is on every variant's last
frame; a second run is all cache hits."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from PIL import Image

from vidpipe import db, media
from vidpipe.captions.subtitles import parse_srt, parse_vtt

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "product-reel.yaml"
SIZES = {"landscape": (320, 180), "vertical": (180, 320), "take-b": (320, 180)}
LOGO_BLUE = (20, 90, 220)


def _shrunk_example(folder: Path, mode: str) -> Path:
    """The shipped example at 320x180, 10 fps, with a shorter script and clip."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["mode"] = mode
    data["video"] = {"width": 320, "height": 180, "fps": 10}
    data["variants"][1]["video"] = {"width": 180, "height": 320}
    nodes = {n["id"]: n for n in data["nodes"]}
    nodes["script"]["asset"]["text"] = "Meet the new dashboard. Share a view in one click."
    nodes["broll"]["config"]["duration_s"] = 4
    (folder / "assets").mkdir(parents=True, exist_ok=True)
    for name in ("logo.png", "outro.mp4"):
        shutil.copy(ROOT / "examples" / "assets" / name, folder / "assets" / name)
    path = folder / "product reel.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _local(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def _frame(video: Path, at_s: float, out: Path) -> Image.Image:
    media.run_ffmpeg(
        ["-ss", f"{at_s:.3f}", "-i", str(video), "-frames:v", "1", str(out)],
        operation="test frame",
        output=out,
    )
    return Image.open(out).convert("RGB")


def _logo_pixels(frame: Image.Image) -> int:
    """Pixels of the logo's blue in the frame's top-right quarter."""
    w, h = frame.size
    corner = frame.crop((w // 2, 0, w, h // 2))
    return sum(
        1
        for r, g, b in corner.get_flattened_data()
        if abs(r - LOGO_BLUE[0]) < 40 and abs(g - LOGO_BLUE[1]) < 40 and abs(b - LOGO_BLUE[2]) < 40
    )


def _by_id(doc: dict) -> dict[str, dict]:
    return {n["id"]: n for n in doc["nodes"]}


@pytest.fixture
def spaced(home: Path, tmp_path: Path) -> Path:
    return tmp_path / "my pipelines"


def test_three_variants_are_made_captioned_and_branded_sharing_their_work(run_file, spaced):
    doc = run_file(_shrunk_example(spaced, "placeholder"))
    assert doc["run"]["status"] == "completed", doc["run"]["error"]
    nodes = _by_id(doc)
    # Shared once: one narration for every shape; host reframed for the vertical cut
    # (`reframe: crop`), the b-roll too (`reframe: blur`); take-b pays for its own clip.
    assert [n for n in nodes if n.startswith("narration")] == ["narration"]
    assert nodes["host@vertical"]["type"] == nodes["broll@vertical"]["type"] == "reframe"
    assert nodes["broll@take-b"]["type"] == "generate-animation"
    assert "host@take-b" not in nodes  # the same host as landscape's
    generated = [n["id"] for n in doc["nodes"] if n["type"].startswith("generate-")]
    assert sorted(generated) == ["broll@landscape", "broll@take-b", "host@landscape", "narration"]

    speech = nodes["narration"]["output"]["duration_s"]
    outro = media.probe(spaced / "assets" / "outro.mp4").duration_s
    assert [v["name"] for v in doc["variants"]] == list(SIZES)
    for variant in doc["variants"]:
        published = _local(variant["published"])
        assert published.name == f"{variant['name']}.mp4" and published.is_file()
        info = media.probe(published)
        assert (info.width, info.height) == SIZES[variant["name"]]
        assert info.fps == pytest.approx(10, abs=0.01)
        assert info.has_audio
        assert info.duration_s == pytest.approx(speech + outro, abs=0.6)
        last = _frame(published, info.duration_s - 0.15, spaced / f"{variant['name']}-last.png")
        assert _logo_pixels(last) > 20, f"no logo on the last frame of {variant['name']}"
        assert (
            variant["output"]["sha256"]
            == nodes[f"brand.apply@{variant['name']}"]["output"]["sha256"]
        )

    # Captions: cues in WebVTT and SRT beside the video, inside the speech, the script's words.
    subs = nodes["subs@landscape"]["output"]
    vtt = parse_vtt(_local(subs["sidecars"]["vtt"]["uri"]).read_text())
    srt = parse_srt(_local(subs["sidecars"]["srt"]["uri"]).read_text())
    assert [c.text for c in vtt] == [c.text for c in srt]
    assert " ".join(" ".join(c.text.split()) for c in vtt) == (
        "Meet the new dashboard. Share a view in one click."
    )
    assert all(0 <= c.start_s < c.end_s <= speech + 0.05 for c in vtt)
    first = vtt[0]
    middle = (first.start_s + first.end_s) / 2
    captioned = _frame(_local(subs["uri"]), middle, spaced / "captioned.png")
    plain = _frame(_local(nodes["voiced@landscape"]["output"]["uri"]), middle, spaced / "plain.png")
    w, h = captioned.size
    bottom = (0, h * 2 // 3, w, h)
    changed = sum(
        1
        for a, b in zip(
            captioned.crop(bottom).get_flattened_data(),
            plain.crop(bottom).get_flattened_data(),
            strict=True,
        )
        if max(abs(x - y) for x, y in zip(a, b, strict=True)) > 60
    )
    assert changed > 100, "no caption drawn where a cue is on screen"

    again = run_file(_shrunk_example(spaced, "placeholder"))
    made = [n["id"] for n in again["nodes"] if n["status"] == "completed" and not n["cache_hit"]]
    assert again["run"]["status"] == "completed" and made == []
    assert [v["output"] for v in again["variants"]] == [v["output"] for v in doc["variants"]]


def test_live_variants_call_each_provider_once_per_piece_of_work(run_file, spaced, fakes):
    doc = run_file(_shrunk_example(spaced, "live"))
    assert doc["run"]["status"] == "completed", doc["run"]["error"]
    jobs = {name: len(fake.submissions) for name, fake in fakes.items()}
    assert jobs == {"elevenlabs": 1, "heygen": 1, "replicate": 0, "veo3": 2}
    engine = db.make_engine()
    billed = db.cost_entries(engine, run_id=doc["run"]["id"], kinds=["billed"])
    assert sorted(e["node_id"] for e in billed) == [
        "broll@landscape",
        "broll@take-b",
        "host@landscape",
        "narration",
    ]
    assert doc["run"]["actual_usd"] == pytest.approx(sum(e["amount_usd"] for e in billed))
    # Live captions follow ElevenLabs' own character timing, kept beside the audio.
    narration = _by_id(doc)["narration"]["output"]
    alignment = _local(narration["sidecars"]["alignment"]["uri"]).read_text()
    assert '"source":"elevenlabs"' in alignment
    assert {v["name"] for v in doc["variants"] if v["published"]} == set(SIZES)
