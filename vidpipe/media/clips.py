"""Making and joining clips: normalise a clip or a still to the pipeline's format, and
merge clips by stream copy, re-encoded concatenation or crossfade."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.media.filters import (
    _input,
    _mp4_opts,
    _prepare_out,
    ff_number,
    fit_video,
    silence_stream,
    stereo_audio,
)
from vidpipe.media.formats import (
    AUDIO_OPTS,
    BITEXACT_OPTS,
    VIDEO_OPTS,
    MediaInfo,
    MergeResult,
    VideoTarget,
)
from vidpipe.media.probing import _require, probe
from vidpipe.media.runner import run_ffmpeg
from vidpipe.settings import get_settings

# --------------------------------------------------------------------------- normalize


def build_normalize_args(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    target: VideoTarget,
    *,
    duration_s: float,
    has_audio: bool,
) -> list[str]:
    """Arguments re-encoding a clip to the target: fit+pad, H.264 yuv420p, AAC 48 kHz
    stereo; a clip without audio gets silence, and audio is padded to the video's length
    so the clips that follow in a concatenation stay in sync."""
    src = ffmpeg.input(str(path))
    video = fit_video(src.video, target)
    if has_audio:
        audio = stereo_audio(src.audio).filter("apad", whole_dur=ff_number(duration_s))
    else:
        audio = silence_stream(duration_s)
    return ffmpeg.output(
        video,
        audio,
        str(out),
        **VIDEO_OPTS,
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()


def normalize(
    path: str | os.PathLike[str], out: str | os.PathLike[str], target: VideoTarget
) -> Path:
    """Re-encode a video clip to the pipeline's format (see :func:`build_normalize_args`)."""
    info = _require(path, "normalize", video=True)
    if info.is_image or not info.duration_s:
        raise MediaError(
            "is a still image, not a clip (use still_to_video)",
            operation="normalize",
            path=str(path),
        )
    dest = _prepare_out(out)
    args = build_normalize_args(
        path, dest, target, duration_s=info.duration_s, has_audio=info.has_audio
    )
    run_ffmpeg(args, operation="normalize", output=dest)
    return dest


def build_still_args(
    image: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    target: VideoTarget,
) -> list[str]:
    """Arguments turning a still into a clip of the target's shape with silent audio."""
    still = ffmpeg.input(
        str(image), loop=1, framerate=ff_number(target.fps), t=ff_number(duration_s)
    )
    return ffmpeg.output(
        fit_video(still.video, target),
        silence_stream(duration_s),
        str(out),
        **VIDEO_OPTS,
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        tune="stillimage",
        t=ff_number(duration_s),
    ).get_args()


def still_to_video(
    image: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    target: VideoTarget,
) -> Path:
    """A clip of `duration_s` showing `image` fitted (not stretched) into the target."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    _require(image, "still_to_video", video=True)
    dest = _prepare_out(out)
    run_ffmpeg(
        build_still_args(image, dest, duration_s=duration_s, target=target),
        operation="still_to_video",
        output=dest,
    )
    return dest


# --------------------------------------------------------------------------- merge


def _same(values: Iterable[object]) -> bool:
    return len(set(values)) <= 1


def can_stream_copy(infos: Sequence[MediaInfo]) -> bool:
    """True when the concat demuxer can join these clips without re-encoding: all share
    video codec and profile, size, frame rate and pixel format, and the same audio layout.

    The profile stands in for the encoder settings: an MP4 keeps one set of H.264
    parameter sets per track, so joining streams from different encoder set-ups by copy
    could corrupt the later ones.
    """
    if not infos or any(not i.has_video or i.is_image for i in infos):
        return False
    fps = [i.fps for i in infos]
    if any(f is None for f in fps) or max(fps) - min(fps) > 0.01:  # type: ignore[type-var,operator]
        return False
    return all(
        _same(getattr(i, field) for i in infos)
        for field in (
            "video_codec",
            "video_profile",
            "width",
            "height",
            "pix_fmt",
            "has_audio",
            "audio_codec",
            "sample_rate",
            "channels",
        )
    )


def concat_list_text(paths: Sequence[str | os.PathLike[str]]) -> str:
    """The concat demuxer's list file; paths are absolute and quotes escaped."""
    lines = []
    for p in paths:
        quoted = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def build_concat_copy_args(
    list_file: str | os.PathLike[str], out: str | os.PathLike[str]
) -> list[str]:
    """Arguments concatenating the clips of a list file by stream copy."""
    return (
        ffmpeg.input(str(list_file), f="concat", safe=0)
        .output(str(out), c="copy", map=0, **_mp4_opts(Path(out)), fflags="+bitexact")
        .get_args()
    )


def build_crossfade_args(
    clips: Sequence[str | os.PathLike[str]],
    durations: Sequence[float],
    out: str | os.PathLike[str],
    *,
    transition_s: float,
) -> list[str]:
    """Arguments chaining xfade/acrossfade over clips already in one format (normalised).

    Clip k starts fading in at the end of everything before it minus `transition_s`, so
    the result is ``sum(durations) - (n - 1) * transition_s`` long. A clip listed twice is
    two inputs (see :func:`_input`).
    """
    inputs = [_input(c, use) for use, c in enumerate(clips)]
    video, audio = inputs[0].video, inputs[0].audio
    elapsed = durations[0]
    for clip, clip_duration in zip(inputs[1:], durations[1:], strict=True):
        offset = elapsed - transition_s
        video = ffmpeg.filter(
            [video, clip.video],
            "xfade",
            transition="fade",
            duration=ff_number(transition_s),
            offset=ff_number(offset),
        )
        audio = ffmpeg.filter([audio, clip.audio], "acrossfade", d=ff_number(transition_s))
        elapsed = offset + clip_duration
    return ffmpeg.output(
        video,
        audio,
        str(out),
        **VIDEO_OPTS,
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(elapsed),
    ).get_args()


def merge(
    clips: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    transition: Literal["none", "crossfade"] = "none",
    transition_s: float = 0.5,
    target: VideoTarget | None = None,
    reencode: bool = False,
) -> MergeResult:
    """Join clips in order.

    Compatible clips (see :func:`can_stream_copy`) are concatenated by stream copy, which
    is many times faster than re-encoding. Anything else is normalised first (to `target`,
    or to the first clip's size and frame rate), never rejected; clips that are
    compatible but differ from an explicit `target` are normalised too. `crossfade` always
    re-encodes. `reencode=True` forces the normalise path (benchmarks, broken timestamps).
    """
    if len(clips) < 1:
        raise ValueError("merge needs at least one clip")
    if transition not in ("none", "crossfade"):
        raise ValueError(f"unknown transition {transition!r}")
    probed = {c: _require(c, "merge", video=True) for c in dict.fromkeys(map(Path, clips))}
    infos = [probed[Path(c)] for c in clips]  # a clip listed again is probed once
    dest = _prepare_out(out)
    crossfade = transition == "crossfade" and transition_s > 0 and len(clips) > 1
    copy = (
        not reencode
        and not crossfade
        and can_stream_copy(infos)
        and (target is None or _matches(infos[0], target))
    )
    if target is None:
        first = infos[0]
        target = VideoTarget(
            _even(first.width or 1280), _even(first.height or 720), first.fps or 30.0
        )
    with tempfile.TemporaryDirectory(prefix=".merge-", dir=dest.parent) as tmp:
        work = Path(tmp)
        parts = [Path(c) for c in clips] if copy else _normalize_all(clips, work, target)
        if crossfade:
            lengths = {p: probe(p).duration_s or 0.0 for p in dict.fromkeys(parts)}
            durations = [lengths[p] for p in parts]
            fade = min(transition_s, 0.5 * min(durations))
            args = build_crossfade_args(parts, durations, dest, transition_s=fade)
        else:
            list_file = work / "concat.txt"
            list_file.write_text(concat_list_text(parts), encoding="utf-8")
            args = build_concat_copy_args(list_file, dest)
        run_ffmpeg(args, operation="merge", output=dest)
    return MergeResult(path=dest, stream_copied=copy)


def _matches(info: MediaInfo, target: VideoTarget) -> bool:
    return (info.width, info.height) == (target.width, target.height) and abs(
        (info.fps or 0) - target.fps
    ) < 0.01


def _even(n: int) -> int:
    return n + (n % 2)


def _normalize_all(
    clips: Sequence[str | os.PathLike[str]], work: Path, target: VideoTarget
) -> list[Path]:
    """Normalise clips concurrently (the runner's semaphore bounds the FFmpeg processes).
    A clip listed more than once is normalised once and its part listed as often."""
    unique = list(dict.fromkeys(Path(c) for c in clips))
    outs = {c: work / f"part{i:03d}.mp4" for i, c in enumerate(unique)}
    workers = get_settings().ffmpeg_threads or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda c: normalize(c, outs[c], target), unique))
    return [outs[Path(c)] for c in clips]
