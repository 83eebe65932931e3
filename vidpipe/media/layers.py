"""Layering onto a clip: a new soundtrack (:func:`mix_audio`) and a picture-in-picture
(:func:`compose`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.media.filters import _input, _mp4_opts, _prepare_out, ff_number, stereo_audio
from vidpipe.media.formats import (
    AUDIO_OPTS,
    AUDIO_RATE,
    BITEXACT_OPTS,
    COPYABLE_VIDEO_CODECS,
    MP4_SUFFIXES,
    VIDEO_OPTS,
    Position,
)
from vidpipe.media.probing import _require
from vidpipe.media.runner import run_ffmpeg

# --------------------------------------------------------------------------- mix_audio


def build_mix_args(
    video: str | os.PathLike[str],
    audios: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    video_has_audio: bool,
    mode: Literal["replace", "mix", "duck"] = "mix",
    audio_volume: float = 1.0,
    video_volume: float = 1.0,
    normalize_loudness: bool = False,
    copy_video: bool = True,
) -> list[str]:
    """Arguments giving `video` a new soundtrack built from its own audio and `audios`.

    The added audios are summed (amix, normalize=0 so volumes mean what they say). In
    ``duck`` mode the video's own audio is taken as the speech and the added audios as
    the music that sidechaincompress lowers while the speech is present. The result is
    padded or trimmed to exactly the video's duration. An audio listed twice (or the video
    itself among `audios`) is one more input, so it is summed twice (see :func:`_input`).
    """
    src = _input(video, 0)
    added_streams = [stereo_audio(_input(a, use).audio) for use, a in enumerate(audios, 1)]
    added = (
        added_streams[0]
        if len(added_streams) == 1
        else ffmpeg.filter(
            added_streams, "amix", inputs=len(added_streams), normalize=0, duration="longest"
        )
    ).filter("volume", ff_number(audio_volume))
    own = (
        stereo_audio(src.audio).filter("volume", ff_number(video_volume))
        if video_has_audio
        else None
    )
    if mode == "replace" or own is None:
        mixed = added
    elif mode == "mix":
        mixed = ffmpeg.filter([own, added], "amix", inputs=2, normalize=0, duration="longest")
    elif mode == "duck":
        speech = own.asplit()
        ducked = ffmpeg.filter(
            [added, speech[0]],
            "sidechaincompress",
            threshold=0.02,
            ratio=8,
            attack=20,
            release=400,
        )
        mixed = ffmpeg.filter(
            [ducked, speech[1]], "amix", inputs=2, normalize=0, duration="longest"
        )
    else:
        raise ValueError(f"unknown mix mode {mode!r}")
    if normalize_loudness:
        mixed = mixed.filter("loudnorm", I=-16, TP=-1.5, LRA=11).filter("aresample", AUDIO_RATE)
    mixed = mixed.filter("apad", whole_dur=ff_number(duration_s)).filter(
        "atrim", duration=ff_number(duration_s)
    )
    video_opts = {"c:v": "copy"} if copy_video else VIDEO_OPTS
    return ffmpeg.output(
        src.video,
        mixed,
        str(out),
        **video_opts,
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()


def mix_audio(
    video: str | os.PathLike[str],
    audios: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    mode: Literal["replace", "mix", "duck"] = "mix",
    audio_volume: float = 1.0,
    video_volume: float = 1.0,
    normalize_loudness: bool = False,
) -> Path:
    """Replace, mix or duck the soundtrack of `video` with 1..4 `audios`; see
    :func:`build_mix_args`. Loudness normalisation targets -16 LUFS. The video stream is
    copied when its codec fits the output container, re-encoded otherwise."""
    if not 1 <= len(audios) <= 4:
        raise ValueError(f"mix_audio takes 1 to 4 audios, got {len(audios)}")
    info = _require(video, "mix_audio", video=True)
    for a in audios:
        _require(a, "mix_audio", audio=True)
    if info.is_image or not info.duration_s:
        raise MediaError("is a still image, not a clip", operation="mix_audio", path=str(video))
    dest = _prepare_out(out)
    copy_video = info.video_codec in COPYABLE_VIDEO_CODECS and (
        dest.suffix.lower() in MP4_SUFFIXES | {".mkv"}
    )
    args = build_mix_args(
        video,
        audios,
        dest,
        duration_s=info.duration_s,
        video_has_audio=info.has_audio,
        mode=mode,
        audio_volume=audio_volume,
        video_volume=video_volume,
        normalize_loudness=normalize_loudness,
        copy_video=copy_video,
    )
    run_ffmpeg(args, operation="mix_audio", output=dest)
    return dest


# --------------------------------------------------------------------------- compose


def overlay_geometry(
    background: tuple[int, int],
    overlay: tuple[int, int],
    *,
    position: Position = "bottom-right",
    scale: float = 0.3,
    margin_px: int = 24,
) -> tuple[int, int, int, int]:
    """Where a picture-in-picture goes: ``(width, height, x, y)`` in pixels.

    The overlay is `scale` times the background's width (aspect kept, even sizes), shrunk
    if it would be taller than the frame; the margin is clamped so the overlay always
    stays inside the frame.
    """
    bg_w, bg_h = background
    ov_w, ov_h = overlay
    if position not in ("top-left", "top-right", "bottom-left", "bottom-right", "center"):
        raise ValueError(f"unknown position {position!r}")
    width = max(2, 2 * round(bg_w * scale / 2))
    height = max(2, 2 * round(width * ov_h / ov_w / 2))
    if height > bg_h:
        height = bg_h - bg_h % 2
        width = max(2, 2 * round(height * ov_w / ov_h / 2))
    width = min(width, bg_w - bg_w % 2)
    margin_x = max(0, min(margin_px, (bg_w - width) // 2))
    margin_y = max(0, min(margin_px, (bg_h - height) // 2))
    if position == "center":
        return width, height, (bg_w - width) // 2, (bg_h - height) // 2
    vertical, horizontal = position.split("-")
    x = margin_x if horizontal == "left" else bg_w - width - margin_x
    y = margin_y if vertical == "top" else bg_h - height - margin_y
    return width, height, x, y


def build_compose_args(
    background: str | os.PathLike[str],
    overlay: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    geometry: tuple[int, int, int, int],
    duration_s: float,
    fps: float,
    overlay_is_image: bool,
    background_has_audio: bool,
    start_s: float | None = None,
    end_s: float | None = None,
) -> list[str]:
    """Arguments drawing `overlay` over `background` at `geometry` between start and end.

    A video overlay starts playing at `start_s` and disappears when it ends; a still is
    looped. The background's audio is copied and the output lasts as long as it. The
    overlay may be the background's own file: it is a second input (see :func:`_input`).
    """
    width, height, x, y = geometry
    bg = _input(background, 0)
    if overlay_is_image:
        ov = _input(overlay, 1, loop=1, framerate=ff_number(fps), t=ff_number(duration_s)).video
    else:
        ov = _input(overlay, 1).video
        if start_s:
            ov = ov.filter("setpts", f"PTS-STARTPTS+{ff_number(start_s)}/TB")
    ov = ov.filter("scale", width, height).filter("setsar", 1)
    window = {}
    if start_s is not None or end_s is not None:
        begin = ff_number(start_s or 0.0)
        end = ff_number(end_s if end_s is not None else duration_s)
        window["enable"] = f"between(t,{begin},{end})"
    video = ffmpeg.overlay(
        bg.video,
        ov,
        x=x,
        y=y,
        eof_action="repeat" if overlay_is_image else "pass",
        **window,
    ).filter("format", "yuv420p")
    streams = [video, bg.audio] if background_has_audio else [video]
    audio_opts = {"c:a": "copy"} if background_has_audio else {}
    return ffmpeg.output(
        *streams,
        str(out),
        **VIDEO_OPTS,
        **audio_opts,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()


def compose(
    background: str | os.PathLike[str],
    overlay: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    position: Position = "bottom-right",
    scale: float = 0.3,
    margin_px: int = 24,
    start_s: float | None = None,
    end_s: float | None = None,
) -> Path:
    """Picture-in-picture of a video or still `overlay` on `background` (see
    :func:`overlay_geometry` and :func:`build_compose_args`)."""
    bg = _require(background, "compose", video=True)
    ov = _require(overlay, "compose", video=True)
    if bg.is_image or not bg.duration_s:
        raise MediaError(
            "background is a still image, not a clip", operation="compose", path=str(background)
        )
    if not (bg.width and bg.height and ov.width and ov.height):
        raise MediaError("cannot read the frame size", operation="compose", path=str(overlay))
    if start_s is not None and end_s is not None and end_s < start_s:
        raise ValueError(f"end_s ({end_s}) is before start_s ({start_s})")
    geometry = overlay_geometry(
        (bg.width, bg.height),
        (ov.width, ov.height),
        position=position,
        scale=scale,
        margin_px=margin_px,
    )
    dest = _prepare_out(out)
    args = build_compose_args(
        background,
        overlay,
        dest,
        geometry=geometry,
        duration_s=bg.duration_s,
        fps=bg.fps or 30.0,
        overlay_is_image=ov.is_image,
        background_has_audio=bg.has_audio,
        start_s=start_s,
        end_s=end_s,
    )
    run_ffmpeg(args, operation="compose", output=dest)
    return dest
