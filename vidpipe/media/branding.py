"""The brand kit on a finished video: :func:`apply_brand` joins an intro and an outro
around it and lays a logo over the whole result, in one FFmpeg pass."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.media.filters import (
    _input,
    _mp4_opts,
    _prepare_out,
    ff_number,
    fit_video,
    stereo_audio,
)
from vidpipe.media.formats import (
    AUDIO_OPTS,
    AUDIO_RATE,
    BITEXACT_OPTS,
    VIDEO_OPTS,
    Position,
    VideoTarget,
)
from vidpipe.media.layers import overlay_geometry
from vidpipe.media.probing import _require
from vidpipe.media.runner import run_ffmpeg

#: A clip to join: its path, its duration in seconds, and whether it has audio.
Clip = tuple[str | os.PathLike[str], float, bool]


def _silence(seconds: float, use: int):
    """Stereo silence as an input of its own: two silent clips of one length must not be
    one input read twice (see :func:`_input`)."""
    source = f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE}"
    return _input(source, use, f="lavfi", t=ff_number(seconds)).audio


def _part(clip: Clip, use: int, target: VideoTarget):
    """One clip of the sequence normalised to the target (see :func:`fit_video`), with its
    audio, or silence, lasting exactly its duration (the concat filter joins each clip's
    picture and sound as one segment)."""
    path, seconds, sound = clip
    src = _input(path, use)
    video = fit_video(src.video.filter("setpts", "PTS-STARTPTS"), target)
    if sound:
        audio = stereo_audio(src.audio.filter("asetpts", "PTS-STARTPTS"))
    else:
        audio = stereo_audio(_silence(seconds, use))
    audio = audio.filter("apad", whole_dur=ff_number(seconds)).filter(
        "atrim", duration=ff_number(seconds)
    )
    return video, audio


def build_brand_args(
    clips: Sequence[Clip],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
    logo: str | os.PathLike[str] | None = None,
    logo_geometry: tuple[int, int, int, int] | None = None,
) -> list[str]:
    """Arguments joining `clips` (path, duration, has audio) in order, each normalised to
    the target, and drawing `logo` at `logo_geometry` (width, height, x, y) over every
    frame of the result. The logo is read once and held (overlay repeats its last frame).
    """
    parts = [_part(clip, use, target) for use, clip in enumerate(clips)]
    total = sum(seconds for _, seconds, _ in clips)
    if len(parts) == 1:
        video, audio = parts[0]
    else:
        joined = ffmpeg.concat(*[s for pair in parts for s in pair], v=1, a=1).node
        video, audio = joined[0], joined[1]
    if logo is not None:
        if logo_geometry is None:
            raise ValueError("a logo needs its geometry")
        width, height, x, y = logo_geometry
        mark = (
            _input(logo, len(clips))
            .video.filter("scale", width, height)
            .filter("setsar", 1)
            .filter("format", "rgba")
        )
        video = ffmpeg.overlay(video, mark, x=x, y=y, eof_action="repeat").filter(
            "format", "yuv420p"
        )
    return ffmpeg.output(
        video,
        audio,
        str(out),
        **VIDEO_OPTS,
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(total),
    ).get_args()


def apply_brand(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
    logo: str | os.PathLike[str] | None = None,
    position: Position = "top-right",
    scale: float = 0.12,
    margin_px: int = 24,
    intro: str | os.PathLike[str] | None = None,
    outro: str | os.PathLike[str] | None = None,
) -> Path:
    """`video` with `intro` before it and `outro` after it (any size or frame rate, with
    or without audio: each is fitted to the target and silence fills missing sound), and
    `logo` over all of it, `scale` times the frame's width, at `position` `margin_px` from
    the edges (see :func:`overlay_geometry`). The result is the target's size and frame
    rate, as long as its clips together, and always has an audio track."""
    clips = []
    for path in (intro, video, outro):
        if path is None:
            continue
        info = _require(path, "apply_brand", video=True)
        if info.is_image or not info.duration_s:
            raise MediaError(
                "is a still image, not a clip", operation="apply_brand", path=str(path)
            )
        clips.append((path, info.duration_s, info.has_audio))
    geometry = None
    if logo is not None:
        mark = _require(logo, "apply_brand", video=True)
        if not (mark.width and mark.height):
            raise MediaError("cannot read the logo's size", operation="apply_brand", path=str(logo))
        geometry = overlay_geometry(
            (target.width, target.height),
            (mark.width, mark.height),
            position=position,
            scale=scale,
            margin_px=margin_px,
        )
    dest = _prepare_out(out)
    args = build_brand_args(clips, dest, target=target, logo=logo, logo_geometry=geometry)
    run_ffmpeg(args, operation="apply_brand", output=dest)
    return dest
