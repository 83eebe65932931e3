"""Reshaping a picture to another frame (16:9 to 9:16, to 1:1...): :func:`reframe` of a
video or a still, by cropping the centre, padding with bars, or fitting the picture over
a blurred, zoomed copy of itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.media.filters import _mp4_opts, _prepare_out, ff_number, stereo_audio
from vidpipe.media.formats import (
    AUDIO_OPTS,
    BITEXACT_OPTS,
    VIDEO_OPTS,
    MediaInfo,
    VideoTarget,
)
from vidpipe.media.probing import _require
from vidpipe.media.runner import run_ffmpeg

ReframeMode = Literal["crop", "pad", "blur"]
REFRAME_MODES: tuple[str, ...] = ReframeMode.__args__
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
#: The blurred fill is made at this fraction of the frame's size and scaled back up: the
#: same look as a wide blur at full size for a small part of the work.
BLUR_DOWNSCALE = 8
#: The blur's sigma relative to the short side of the reduced frame.
BLUR_SIGMA = 0.06
#: How much darker the blurred fill is than the picture (eq's brightness, -1..1).
BLUR_DARKEN = -0.12


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _scaled(stream, width: int, height: int, *, cover: bool, video: bool):
    """Scaled to cover (`cover`) or fit inside width x height, aspect kept, even sizes;
    video is brought to limited range like every clip vidpipe makes (full-range stills
    and MJPEG would not concatenate with the rest)."""
    range_opts = {"out_range": "tv"} if video else {}
    return stream.filter(
        "scale",
        width,
        height,
        force_original_aspect_ratio="increase" if cover else "decrease",
        force_divisible_by=2,
        **range_opts,
    )


def _blurred_fill(stream, target: VideoTarget, *, video: bool):
    """The background of `blur`: the picture covering a reduced frame, blurred, darkened,
    and scaled back up to exactly the target."""
    small_w = _even(target.width / BLUR_DOWNSCALE)
    small_h = _even(target.height / BLUR_DOWNSCALE)
    sigma = max(1.0, BLUR_SIGMA * min(small_w, small_h))
    return (
        _scaled(stream, small_w, small_h, cover=True, video=video)
        .filter("crop", small_w, small_h)
        .filter("gblur", sigma=ff_number(sigma), steps=2)
        .filter("eq", brightness=ff_number(BLUR_DARKEN))
        .filter("scale", target.width, target.height, flags="bilinear")
    )


def reframe_picture(stream, target: VideoTarget, mode: str, *, video: bool):
    """The filter chain bringing `stream` to exactly target width x height, square pixels.

    ``crop``: scaled to cover the frame, the centre kept. ``pad``: scaled to fit, black
    bars around it, centred. ``blur``: scaled to fit, centred over a blurred and darkened
    copy of itself covering the frame. A video also gets the target's frame rate (first,
    so dropped frames are never scaled) and yuv420p.
    """
    if mode not in REFRAME_MODES:
        raise ValueError(f"unknown reframe mode {mode!r}; expected one of {REFRAME_MODES}")
    if video:
        stream = stream.filter("fps", fps=ff_number(target.fps))
    if mode == "crop":
        framed = _scaled(stream, target.width, target.height, cover=True, video=video).filter(
            "crop", target.width, target.height
        )
    elif mode == "pad":
        framed = _scaled(stream, target.width, target.height, cover=False, video=video).filter(
            "pad", target.width, target.height, "(ow-iw)/2", "(oh-ih)/2", color="black"
        )
    else:
        copies = stream.split()
        fill = _blurred_fill(copies[0], target, video=video)
        sharp = _scaled(copies[1], target.width, target.height, cover=False, video=video)
        framed = ffmpeg.overlay(
            fill, sharp, x="(W-w)/2", y="(H-h)/2", format="yuv420" if video else "auto"
        )
    framed = framed.filter("setsar", 1)
    return framed.filter("format", "yuv420p") if video else framed


def build_reframe_args(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
    mode: str,
    info: MediaInfo,
) -> list[str]:
    """Arguments reframing `source` (described by `info`) into `out`.

    A still gives one picture. A video gives an H.264 clip as long as the source, with
    its audio as AAC 48 kHz stereo (padded to the clip's length), or no audio if it had
    none.
    """
    src = ffmpeg.input(str(source))
    if info.is_image:
        picture = reframe_picture(src.video, target, mode, video=False)
        return ffmpeg.output(
            picture, str(out), update=1, **{"frames:v": 1}, **BITEXACT_OPTS
        ).get_args()
    seconds = info.duration_s or 0.0
    streams = [reframe_picture(src.video, target, mode, video=True)]
    opts: dict[str, object] = {**VIDEO_OPTS, **BITEXACT_OPTS}
    if info.has_audio:
        streams.append(stereo_audio(src.audio).filter("apad", whole_dur=ff_number(seconds)))
        opts.update(AUDIO_OPTS)
    return ffmpeg.output(
        *streams, str(out), **opts, **_mp4_opts(Path(out)), t=ff_number(seconds)
    ).get_args()


def reframe(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
    mode: ReframeMode = "blur",
) -> Path:
    """Reshape a video or a still to exactly the target's size (see
    :func:`reframe_picture`): a still gives a picture (`out` ``.png``, or another image
    suffix), a video a clip (`out` ``.mp4``) at the target's frame rate, as long as the
    source, keeping its audio."""
    if mode not in REFRAME_MODES:
        raise ValueError(f"unknown reframe mode {mode!r}; expected one of {REFRAME_MODES}")
    info = _require(source, "reframe", video=True)
    dest = _prepare_out(out)
    is_image_out = dest.suffix.lower() in IMAGE_SUFFIXES
    if info.is_image and not is_image_out:
        raise MediaError(
            f"is a still image: reframe it to an image file (.png), not {dest.name!r}",
            operation="reframe",
            path=str(source),
        )
    if not info.is_image and is_image_out:
        raise MediaError(
            f"is a video: reframe it to a video file (.mp4), not {dest.name!r}",
            operation="reframe",
            path=str(source),
        )
    if not info.is_image and not info.duration_s:
        raise MediaError("cannot tell how long the video is", operation="reframe", path=str(source))
    args = build_reframe_args(source, dest, target=target, mode=mode, info=info)
    run_ffmpeg(args, operation="reframe", output=dest)
    return dest
