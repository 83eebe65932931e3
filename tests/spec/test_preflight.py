"""Preflight: every refusal a run would meet that the file already shows, found before
anything runs. One failing and one passing case per refusal, placeholder against live,
and the shipped examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vidpipe.preflight import PROVIDER_RULES, effective_provider, run_problems
from vidpipe.spec import PipelineSpec, Problem, load_data, load_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
HEX = "a" * 64

VOICE = {
    "id": "narration",
    "type": "generate-voiceover",
    "config": {"provider": "elevenlabs", "voice_id": "v1", "text": "Hello there."},
}


def spec(*nodes: dict[str, Any], video: dict[str, int] | None = None) -> PipelineSpec:
    """A valid spec given as data (no folder, as a pipeline given as text)."""
    data: dict[str, Any] = {"name": "preflight", "nodes": list(nodes)}
    if video is not None:
        data["video"] = video
    result = load_data(data)
    assert result.valid, result.problems
    assert result.spec is not None
    return result.spec


def host(**config: Any) -> dict[str, Any]:
    inputs = config.pop("inputs", {"audio": "narration"})
    cfg = {"provider": "heygen", "avatar_id": "Daisy", **config}
    return {"id": "host", "type": "generate-talking-head", "inputs": inputs, "config": cfg}


def broll(**config: Any) -> dict[str, Any]:
    cfg = {"provider": "veo3", "prompt": "a dashboard", **config}
    return {"id": "broll", "type": "generate-animation", "config": cfg}


def still(**config: Any) -> dict[str, Any]:
    cfg = {"provider": "replicate", "prompt": "a skyline", **config}
    return {"id": "still", "type": "generate-image", "config": cfg}


def where(problems: list[Problem]) -> list[str]:
    return [p.location for p in problems]


# --------------------------------------------------------------------------- HeyGen


def test_heygen_background_is_refused_live_only():
    picture = {"id": "bg", "type": "asset", "asset": {"kind": "image", "url": "https://x/b.png"}}
    s = spec(VOICE, picture, host(inputs={"audio": "narration", "background": "bg"}))
    [problem] = run_problems(s, "live")
    assert problem.location == "nodes[2] (host).inputs.background"
    assert problem.message == (
        "HeyGen does not take a background in this version: remove `background`, "
        "or use provider: local"
    )
    assert run_problems(s, "placeholder") == []


def test_heygen_without_background_or_local_passes():
    assert run_problems(spec(VOICE, host()), "live") == []
    picture = {"id": "bg", "type": "asset", "asset": {"kind": "image", "url": "https://x/b.png"}}
    local = host(provider="local", inputs={"audio": "narration", "background": "bg"})
    assert run_problems(spec(VOICE, picture, local), "live") == []


def test_heygen_refuses_audio_that_is_not_mp3_or_wav():
    placeholder_voice = {**VOICE, "config": {**VOICE["config"], "provider": "local"}}
    [problem] = run_problems(spec(placeholder_voice, host()), "live")
    assert problem.location == "nodes[1] (host).inputs.audio"
    assert "'narration' (a placeholder voiceover) gives .m4a" in problem.message
    assert problem.message.endswith("feed it MP3 or WAV, or use provider: local")

    m4a = {"id": "narration", "type": "asset", "asset": {"kind": "audio", "uri": "s3://b/v.M4A"}}
    assert where(run_problems(spec(m4a, host()), "live")) == ["nodes[1] (host).inputs.audio"]
    bare = {"id": "narration", "type": "asset", "asset": {"kind": "audio", "url": "https://x/v"}}
    [problem] = run_problems(spec(bare, host()), "live")
    assert "gives .bin" in problem.message


def test_heygen_takes_mp3_and_wav_audio():
    assert run_problems(spec(VOICE, host()), "live") == []  # ElevenLabs makes .mp3
    wav = {
        "id": "narration",
        "type": "asset",
        "asset": {"kind": "audio", "url": "https://x/v.WAV?t=1"},
    }
    assert run_problems(spec(wav, host()), "live") == []
    placeholder_voice = {**VOICE, "config": {**VOICE["config"], "provider": "local"}}
    assert run_problems(spec(placeholder_voice, host()), "placeholder") == []


# --------------------------------------------------------------------------- Veo


def test_veo_duration_must_be_4_6_or_8():
    s = spec(broll(duration_s=5))
    [problem] = run_problems(s, "live")
    assert problem.location == "nodes[0] (broll).config.duration_s"
    assert problem.message == (
        "Veo makes clips of 4, 6 or 8 seconds, not 5: set duration_s to one of those, "
        "or use provider: replicate or local"
    )
    assert run_problems(s, "placeholder") == []
    assert run_problems(spec(broll(duration_s=5, provider="replicate")), "live") == []


@pytest.mark.parametrize("seconds", [4, 6, 8, 6.0])
def test_veo_durations_it_makes_pass(seconds):
    assert run_problems(spec(broll(duration_s=seconds)), "live") == []


def test_veo_aspect_ratio_must_be_16_9_or_9_16():
    s = spec(broll(aspect_ratio="1:1"))
    [problem] = run_problems(s, "live")
    assert problem.location == "nodes[0] (broll).config.aspect_ratio"
    assert problem.message.startswith("Veo makes 16:9 or 9:16 video only, not 1:1")
    assert run_problems(s, "placeholder") == []
    assert run_problems(spec(broll(aspect_ratio="9:16")), "live") == []


def test_veo_aspect_ratio_from_a_square_video_is_refused():
    square = {"width": 720, "height": 720, "fps": 30}
    [problem] = run_problems(spec(broll(), video=square), "live")
    assert problem.location == "nodes[0] (broll).config.aspect_ratio"
    assert "follows the pipeline's 720x720 video (1:1)" in problem.message
    assert run_problems(spec(broll(), video={"width": 720, "height": 1280}), "live") == []
    assert run_problems(spec(broll(aspect_ratio="16:9"), video=square), "live") == []


def test_veo_model_must_be_a_veo_model():
    s = spec(broll(model="google/veo-3"))
    [problem] = run_problems(s, "live")
    assert problem.location == "nodes[0] (broll).config.model"
    assert "'google/veo-3' is not a Veo model (like veo-3.1-fast-generate-001)" in problem.message
    assert run_problems(s, "placeholder") == []
    assert run_problems(spec(broll(model="veo-3.1-generate-001")), "live") == []
    assert run_problems(spec(broll()), "live") == []  # the client's default model


# --------------------------------------------------------------------------- Replicate


@pytest.mark.parametrize("model", ["flux", "owner/", "a/b/c", "owner/name:latest", "x:y"])
def test_replicate_model_must_be_owner_name_or_a_version(model):
    for node in (still(model=model), broll(provider="replicate", model=model)):
        s = spec(node)
        [problem] = run_problems(s, "live")
        assert problem.location == f"nodes[0] ({node['id']}).config.model"
        assert f"{model!r} is not a Replicate model" in problem.message
        assert run_problems(s, "placeholder") == []


@pytest.mark.parametrize(
    "model", ["black-forest-labs/flux-1.1-pro", f"owner/name:{HEX}", HEX, "wan-video/wan-2.1"]
)
def test_replicate_models_it_takes_pass(model):
    assert run_problems(spec(still(model=model)), "live") == []
    assert run_problems(spec(broll(provider="replicate", model=model)), "live") == []


# --------------------------------------------------------------------------- ElevenLabs


def test_a_blank_script_is_refused_live_and_offline():
    blank = {**VOICE, "config": {**VOICE["config"], "text": "  \n "}}
    for mode in ("live", "placeholder"):
        [problem] = run_problems(spec(blank), mode)
        assert problem.location == "nodes[0] (narration).config.text"
        assert problem.message == "nothing to say (the script is blank): write it"

    script = {"id": "script", "type": "asset", "asset": {"kind": "text", "text": " "}}
    wired = {**VOICE, "inputs": {"script": "script"}}
    assert where(run_problems(spec(script, wired), "live")) == [
        "nodes[1] (narration).inputs.script"
    ]


def test_elevenlabs_with_words_passes():
    assert run_problems(spec(VOICE), "live") == []
    script = {"id": "script", "type": "asset", "asset": {"kind": "text", "text": "Hi."}}
    blank_config = {"provider": "elevenlabs", "voice_id": "v1", "text": " "}
    wired = {**VOICE, "inputs": {"script": "script"}, "config": blank_config}
    assert run_problems(spec(script, wired), "live") == []  # the input wins over config


# --------------------------------------------------------------------------- assets


def test_asset_path_needs_the_files_folder_in_either_mode(tmp_path):
    music = {"id": "music", "type": "asset", "asset": {"kind": "audio", "path": "music.m4a"}}
    s = spec(music)  # given as data: no folder
    for mode in ("placeholder", "live"):
        [problem] = run_problems(s, mode)
        assert problem.location == "nodes[0] (music).asset.path"
        assert "needs the pipeline file's folder" in problem.message

    (tmp_path / "music.m4a").write_bytes(b"not checked here")
    (tmp_path / "p.yaml").write_text(
        "name: p\nnodes:\n  - {id: music, type: asset, asset: {kind: audio, path: music.m4a}}\n"
    )
    from_file = load_file(tmp_path / "p.yaml").spec
    assert from_file is not None
    assert run_problems(from_file, "placeholder") == run_problems(from_file, "live") == []


# --------------------------------------------------------------------------- whole files


def test_problems_are_in_file_order_and_all_reported():
    picture = {"id": "bg", "type": "asset", "asset": {"kind": "image", "url": "https://x/b.png"}}
    s = spec(
        broll(duration_s=5, aspect_ratio="4:3"),
        VOICE,
        picture,
        host(inputs={"audio": "narration", "background": "bg"}),
    )
    assert where(run_problems(s, "live")) == [
        "nodes[0] (broll).config.aspect_ratio",
        "nodes[0] (broll).config.duration_s",
        "nodes[3] (host).inputs.background",
    ]
    assert run_problems(s, "placeholder") == []


def test_mode_is_placeholder_or_live():
    with pytest.raises(ValueError, match="placeholder' or 'live'"):
        run_problems(spec(VOICE), "dry-run")


def test_effective_provider_rule():
    s = spec(VOICE, host(provider="local"), broll())
    assert [effective_provider(n, "live") for n in s.nodes] == ["elevenlabs", "placeholder", "veo3"]
    assert {effective_provider(n, "placeholder") for n in s.nodes} == {"placeholder"}
    assert set(PROVIDER_RULES) == {"veo3", "heygen", "replicate", "elevenlabs"}


@pytest.mark.parametrize("mode", ["placeholder", "live"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_have_no_problems(path, mode):
    s = load_file(path).spec
    assert s is not None
    assert where(run_problems(s, mode)) == []


# --------------------------------------------------------------------------- the task guard


def test_the_task_guard_refuses_what_preflight_refuses(tmp_path):
    """The run-time guard applies the same rules, to the node's real inputs."""
    from tasks.runtime import RunInfo, check_node
    from vidpipe.errors import SpecError
    from vidpipe.storage import LocalStore

    store = LocalStore(tmp_path / "media")
    (tmp_path / "v.m4a").write_bytes(b"audio")
    (tmp_path / "b.png").write_bytes(b"image")
    audio = store.put(tmp_path / "v.m4a", kind="audio")
    picture = store.put(tmp_path / "b.png", kind="image")
    bg = {"id": "bg", "type": "asset", "asset": {"kind": "image", "url": "https://x/b.png"}}
    s = spec(VOICE, bg, host(inputs={"audio": "narration", "background": "bg"}))
    node = s.node("host")
    for mode in ("placeholder", "live"):
        run = RunInfo(
            run_id="r", pipeline="p", mode=mode, video=s.video, database_url="-", storage_url="-"
        )
        inputs = {"audio": [audio], "background": [picture]}
        if mode == "placeholder":
            check_node(node, inputs, run, store)
            continue
        with pytest.raises(SpecError) as refused:
            check_node(node, inputs, run, store)
        assert str(refused.value) == (
            "node 'host': inputs.background: HeyGen does not take a background in this "
            "version: remove `background`, or use provider: local; inputs.audio: HeyGen "
            "takes .mp3 or .wav audio, but this input gives .m4a: feed it MP3 or WAV, or "
            "use provider: local"
        )


# --------------------------------------------------------------------------- the CLI


BACKGROUND = """\
name: with-background
nodes:
  - {id: narration_1, type: generate-voiceover,
     config: {provider: elevenlabs, voice_id: v1, text: "Hello there."}}
  - {id: bg, type: asset, asset: {kind: image, url: "https://example.com/b.png"}}
  - {id: host, type: generate-talking-head, inputs: {audio: narration_1, background: bg},
     config: {provider: heygen, avatar_id: Daisy}}
"""


def test_validate_plan_and_run_refuse_it_for_live_before_anything_is_paid(tmp_path):
    """The placeholder file is valid; for a live run, validate reports the refusal,
    plan and run refuse it with exit code 2 and no run is opened."""
    from typer.testing import CliRunner

    from vidpipe.cli import app

    path = tmp_path / "my files" / "host.yaml"
    path.parent.mkdir()
    path.write_text(BACKGROUND)
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    live = runner.invoke(app, ["validate", str(path), "--mode", "live"])
    assert live.exit_code == 1
    assert "nodes[2] (host).inputs.background: HeyGen does not take a background" in live.output
    live_file = tmp_path / "my files" / "live.yaml"
    live_file.write_text(BACKGROUND.replace("name: with-background", "name: live\nmode: live"))
    assert runner.invoke(app, ["validate", str(live_file)]).exit_code == 1
    for command in ("plan", "run"):
        refused = runner.invoke(app, [command, str(path), "--mode", "live"])
        assert refused.exit_code == 2, refused.output
        assert "(host).inputs.background" in refused.output
        assert "Traceback" not in refused.output
