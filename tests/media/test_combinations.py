"""Every input combination the catalogue allows, run for real for each FFmpeg node type.

A fuzz pass found ``mix-audio`` failing on ``audio: [mu, mu]``: a valid file, but the
builder made one filter output feed two filters, which FFmpeg refuses. FFmpeg graphs must
hold for every combination the slots allow, so this file enumerates them from the
catalogue's slot declarations (cardinalities, a file repeated, the same file in two slots,
clips that need normalising, "exactly one of" slot pairs), runs each node type's executor
on tiny real media (160x90, 0.5-3 s; a voiceover's audio carries its word timing as the
voiceover node leaves it) and probes what it made: duration, streams, size.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import pytest

from tasks import captions, compose_video, merge_videos, mix_audio, render_code
from vidpipe import media
from vidpipe.captions import Alignment
from vidpipe.catalogue import CATALOGUE, Slot
from vidpipe.media import VideoTarget
from vidpipe.refs import MediaRef

SMALL = VideoTarget(160, 90, 25)  # the pipeline's video in these runs (conftest.py's format)

EXECUTORS: dict[str, Callable] = {
    "mix-audio": mix_audio.execute,
    "merge-videos": merge_videos.execute,
    "compose-video": compose_video.execute,
    "render-code": render_code.execute,
    "captions": captions.execute,
}

# The media each slot can be given (fixture names), and their kinds. clip_other is the
# odd one out: 120x90 (4:3), 30 fps, no audio; voice_wav is mono 44.1 kHz WAV.
KINDS = {
    "clip_1s": "video",
    "clip_2s": "video",
    "clip_other": "video",
    "still_png": "image",
    "music_3s": "audio",
    "music_half": "audio",
    "voice_wav": "audio",
    "code_txt": "text",
    "speech": "audio",
}
SNIPPET = "def f(x):\n    return x * 2\n"  # code_txt's text
#: Files kept beside a fixture's media (`MediaRef.sidecars`), as fixture names: speech is
#: a voiceover's audio, with the word timing a voiceover node keeps beside it.
SIDECARS = {"speech": {"alignment": "speech_timing"}}


@pytest.fixture(scope="module")
def voice_wav(media_dir: Path) -> Path:
    """1.5 s of mono 44.1 kHz PCM: an audio in another layout, rate and container."""
    out = media_dir / "voice.wav"
    media.run_ffmpeg(
        ["-f", "lavfi", "-i", "sine=frequency=220:sample_rate=44100", "-t", "1.5",
         "-ac", "1", "-c:a", "pcm_s16le", str(out)],
        operation="fixture", output=out,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def speech(media_dir: Path) -> Path:
    """1.2 s of AAC: the audio of a voiceover saying `speech_timing`'s words."""
    return media.tone(media_dir / "speech.m4a", duration_s=1.2, frequency=200)


@pytest.fixture(scope="module")
def speech_timing(media_dir: Path) -> Path:
    out = media_dir / "speech.alignment.json"
    words = Alignment.estimated("Hello there. Two words, then three more words.", 1.1).words
    out.write_text(Alignment(words, source="espeak-ng").to_json(), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def code_txt(media_dir: Path) -> Path:
    out = media_dir / "code.py"
    out.write_text(SNIPPET, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    node_type: str
    inputs: dict[str, tuple[str, ...]]
    config: dict[str, object] = field(default_factory=dict)

    @property
    def id(self) -> str:
        slots = " ".join(f"{k}={_runs(v) or '-'}" for k, v in self.inputs.items())
        config = " ".join(f"{k}={v}" for k, v in self.config.items() if k != "code")
        return f"{self.node_type}[{slots}{' ' if config else ''}{config}]"


def _runs(names: tuple[str, ...]) -> str:
    """``a+a+b`` written ``a*2+b``, so a hundred segments make a readable test id."""
    groups = [(name, len(list(run))) for name, run in itertools.groupby(names)]
    return "+".join(name if count == 1 else f"{name}*{count}" for name, count in groups)


def _slot(node_type: str, name: str) -> Slot:
    slot = CATALOGUE[node_type].slot(name)
    assert slot is not None, f"{node_type} has no slot {name!r}"
    return slot


def _counts(slot: Slot) -> list[int]:
    """Every count a slot takes, or for a wide range its first three and its maximum."""
    if slot.max - slot.min <= 3:
        return list(range(slot.min, slot.max + 1))
    return [slot.min, slot.min + 1, slot.min + 2, slot.max]


def _cycle(names: tuple[str, ...], n: int) -> tuple[str, ...]:
    return tuple(itertools.islice(itertools.cycle(names), n))


def _mix_cases() -> Iterator[Case]:
    modes = ("replace", "mix", "duck")
    audio = _slot("mix-audio", "audio")
    assert _slot("mix-audio", "video").max == 1
    rotation = itertools.cycle(modes)
    patterns = (("music_3s",), ("music_half", "voice_wav", "music_3s"))
    for video in ("clip_1s", "clip_other"):  # with and without its own sound
        for n in _counts(audio):
            for pattern in patterns if video == "clip_1s" else patterns[:1]:
                # ("music_3s",) * n is the fuzz case: the same audio n times.
                yield Case(
                    "mix-audio",
                    {"video": (video,), "audio": _cycle(pattern, n)},
                    {"mode": next(rotation)},
                )
    for mode in modes:  # the reported file, in every mode
        yield Case("mix-audio", {"video": ("clip_1s",), "audio": ("music_3s",) * 2}, {"mode": mode})
    yield Case(
        "mix-audio",
        {"video": ("clip_1s",), "audio": ("music_half",) * audio.max},
        {"mode": "duck", "normalize_loudness": True, "audio_volume": 0.5},
    )


def _merge_cases() -> Iterator[Case]:
    segments = _slot("merge-videos", "segments")
    patterns = {
        "same": ("clip_1s",),  # stream copy of one clip repeated
        "compatible": ("clip_1s", "clip_2s"),  # stream copy, repeats from 3 on
        "mismatched": ("clip_1s", "clip_other", "clip_2s"),  # normalised
        "same-mismatched": ("clip_other",),  # normalised once, used n times
    }
    for n in _counts(segments):
        for name, pattern in patterns.items():
            for transition in ("none", "crossfade"):
                if n == segments.max and (transition == "crossfade" or name != "same"):
                    continue  # the maximum once: 100 copies by stream copy
                if segments.min + 1 < n < segments.max and name != "mismatched":
                    continue  # past 3, only the mix that repeats a clip to normalise
                yield Case(
                    "merge-videos",
                    {"segments": _cycle(pattern, n)},
                    {"transition": transition},
                )
    yield Case(
        "merge-videos",
        {"segments": ("clip_1s", "clip_1s")},
        {"transition": "crossfade", "transition_s": 0.0},
    )


def _compose_cases() -> Iterator[Case]:
    assert _slot("compose-video", "background").max == 1
    assert _slot("compose-video", "overlay").max == 1
    windows = ({}, {"start_s": 0.3, "end_s": 0.8}, {"start_s": 0.4})
    for background in ("clip_1s", "clip_other"):  # with and without sound
        overlays = ("still_png", "clip_2s", "clip_other", background)  # the last: itself
        for overlay in dict.fromkeys(overlays):
            for window in windows if overlay == background else windows[:1]:
                yield Case(
                    "compose-video",
                    {"background": (background,), "overlay": (overlay,)},
                    {"position": "top-left", "scale": 0.5, **window},
                )


def _render_cases() -> Iterator[Case]:
    code = _slot("render-code", "code")
    assert (code.min, code.max, code.or_config) == (0, 1, "code")
    yield Case("render-code", {"code": ()}, {"code": SNIPPET, "language": "python"})
    yield Case(
        "render-code",
        {"code": ("code_txt",)},
        {"language": "python", "hold_s": 0.0, "chars_per_second": 60.0},
    )


def _captions_cases() -> Iterator[Case]:
    audio, script = _slot("captions", "audio"), _slot("captions", "script")
    assert (audio.or_slot, script.or_slot) == ("script", "audio")  # exactly one of the two
    assert _slot("captions", "video").max == 1
    looks = ({}, {"highlight": "word", "position": "top", "max_lines": 1, "size": 12.0})
    for video in ("clip_1s", "clip_other"):  # with and without sound, to fit or not
        for look in looks:
            yield Case("captions", {"video": (video,), "audio": ("speech",), "script": ()}, look)
        yield Case(
            "captions",
            {"video": (video,), "audio": (), "script": ("code_txt",)},
            {"position": "center", "max_chars_per_line": 10},
        )


_ALL = [*_mix_cases(), *_merge_cases(), *_compose_cases(), *_render_cases(), *_captions_cases()]
CASES = list({case.id: case for case in _ALL}.values())  # each combination once


def test_every_ffmpeg_node_type_is_enumerated():
    """The node types that do local FFmpeg work (no provider, an output) are all here."""
    ffmpeg_types = {
        name
        for name, decl in CATALOGUE.items()
        if decl.provider_field is None and decl.output is not None and decl.slots
    }
    assert ffmpeg_types == set(EXECUTORS) == {case.node_type for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cases_respect_the_catalogue(case: Case):
    decl = CATALOGUE[case.node_type]
    assert set(case.inputs) == set(decl.slot_names)
    for slot in decl.slots:
        names = case.inputs[slot.name]
        assert slot.min <= len(names) <= slot.max
        assert {KINDS[n] for n in names} <= slot.kinds
        if slot.or_slot:
            assert bool(names) != bool(case.inputs[slot.or_slot]), "exactly one of the two"
    decl.config_model(**case.config)


# --------------------------------------------------------------------------- the runs


@dataclass
class _Context:
    """The part of `tasks.runtime.ExecContext` the FFmpeg executors use."""

    workdir: Path
    node_id: str
    target: VideoTarget = SMALL

    def path(self, ref: MediaRef) -> Path:
        return Path(unquote(urlparse(ref.uri).path))

    def text(self, ref: MediaRef) -> str:
        return self.path(ref).read_text(encoding="utf-8")

    def out(self, suffix: str) -> Path:
        return self.workdir / f"{self.node_id}{suffix}"


def _run(case: Case, request: pytest.FixtureRequest, workdir: Path) -> tuple[Path, dict]:
    """Run the case's executor; return its output and the probed inputs by slot."""
    paths = {
        slot: [Path(request.getfixturevalue(name)) for name in names]
        for slot, names in case.inputs.items()
    }
    node = SimpleNamespace(
        id="node",
        type=case.node_type,
        config=CATALOGUE[case.node_type].config_model(**case.config),
        brand=None,
    )
    refs = {
        slot: [
            _ref(path, _slot(case.node_type, slot).kinds, _sidecars(name, request))
            for name, path in zip(names, paths[slot], strict=True)
        ]
        for slot, names in case.inputs.items()
    }
    output = EXECUTORS[case.node_type](node, refs, _Context(workdir, "node"))
    assert output.kind == CATALOGUE[case.node_type].output
    media_slots = {s: ps for s, ps in paths.items() if "text" not in _slot(case.node_type, s).kinds}
    return output.path, {slot: [_probe(p) for p in ps] for slot, ps in media_slots.items()}


def _sidecars(name: str, request: pytest.FixtureRequest) -> dict[str, MediaRef]:
    """The references of the files kept beside a fixture's media (`SIDECARS`)."""
    return {
        sidecar: _ref(Path(request.getfixturevalue(fixture)), {"text"})
        for sidecar, fixture in SIDECARS.get(name, {}).items()
    }


def _ref(
    path: Path, kinds: frozenset[str] | set[str], sidecars: dict[str, MediaRef] | None = None
) -> MediaRef:
    """The reference a task gets for a stored file (as `tasks.runtime` hands them over),
    with the files kept beside it."""
    if kinds == {"text"}:
        kind, duration = "text", None
    else:
        info = _probe(path)
        kind = "image" if info.is_image else "video" if info.has_video else "audio"
        duration = info.duration_s
    assert kind in kinds, (path, kind, kinds)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return MediaRef(
        uri=path.as_uri(),
        kind=kind,
        sha256=digest,
        bytes=path.stat().st_size,
        duration_s=duration,
        sidecars=sidecars or {},
    )


@functools.cache
def _probe(path: Path) -> media.MediaInfo:
    """The inputs are made once per session: probe each once too."""
    return media.probe(path)


def _expected_duration(case: Case, inputs: dict, config) -> float:
    if case.node_type in ("mix-audio", "captions"):
        return inputs["video"][0].duration_s
    if case.node_type == "compose-video":
        return inputs["background"][0].duration_s
    if case.node_type == "merge-videos":
        durations = [i.duration_s for i in inputs["segments"]]
        fade = 0.0
        if config.transition == "crossfade":
            fade = min(config.transition_s, 0.5 * min(durations))
        return sum(durations) - (len(durations) - 1) * fade
    typed = len((config.code or SNIPPET).strip())  # the code input is SNIPPET too
    return typed / config.chars_per_second + config.hold_s


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_combination_runs(case: Case, request: pytest.FixtureRequest, tmp_path: Path):
    out, inputs = _run(case, request, tmp_path)
    config = CATALOGUE[case.node_type].config_model(**case.config)
    info = media.probe(out)

    # Streams: always H.264 yuv420p video; audio as the node type promises.
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    if case.node_type in ("compose-video", "captions"):  # the input's sound, copied
        source = inputs["background" if case.node_type == "compose-video" else "video"][0]
        assert (info.has_audio, info.audio_codec) == (source.has_audio, source.audio_codec)
    else:
        assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)

    # Size: the input's for mix and compose; the pipeline's (and its fps) otherwise.
    shaper = {"mix-audio": "video", "compose-video": "background"}.get(case.node_type)
    if shaper:
        source = inputs[shaper][0]
        assert (info.width, info.height) == (source.width, source.height)
    else:
        assert (info.width, info.height, info.fps) == (SMALL.width, SMALL.height, SMALL.fps)

    # Duration: to a few frames (AAC priming and padding add a little per segment).
    expected = _expected_duration(case, inputs, config)
    tolerance = 0.1 + 0.002 * len(inputs.get("segments", ()))
    assert info.duration_s == pytest.approx(expected, abs=tolerance)
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_a_repeated_audio_is_summed_as_often_as_it_is_listed(
    request: pytest.FixtureRequest, tmp_path: Path
):
    """`audio: [mu, mu]` is mu at twice the amplitude (+6 dB), not mu once: every use of
    the file reaches the mix (normalize=0 keeps amix from averaging)."""
    levels = []
    for n in (1, 2):
        case = Case(
            "mix-audio",
            {"video": ("clip_1s",), "audio": ("music_3s",) * n},
            {"mode": "replace"},
        )
        out, _ = _run(case, request, tmp_path / str(n))
        levels.append(media.mean_volume_db(out))
    assert levels[1] - levels[0] == pytest.approx(6.02, abs=0.3)


@pytest.mark.parametrize(
    ("builder", "kwargs"),
    [
        (
            media.build_mix_args,
            dict(video="v.mp4", audios=["mu.m4a"] * 3, out="o.mp4", duration_s=1,
                 video_has_audio=True, mode="duck"),
        ),
        (
            media.build_crossfade_args,
            dict(clips=["a.mp4"] * 3, durations=[1, 1, 1], out="o.mp4", transition_s=0.5),
        ),
        (
            media.build_compose_args,
            dict(background="a.mp4", overlay="a.mp4", out="o.mp4", geometry=(40, 22, 8, 8),
                 duration_s=1, fps=25, overlay_is_image=False, background_has_audio=True,
                 start_s=0.5),
        ),
    ],
    ids=["mix", "crossfade", "compose"],
)  # fmt: skip
def test_a_repeated_file_is_one_input_per_use(builder, kwargs):
    """Builders stay pure and inspectable: a file used k times is k ``-i`` entries."""
    args = builder(**kwargs)
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    files = [kwargs.get("video")] if "video" in kwargs else []
    files += kwargs.get("audios") or kwargs.get("clips") or []
    files += [kwargs[k] for k in ("background", "overlay") if k in kwargs]
    assert inputs == [str(f) for f in files]
