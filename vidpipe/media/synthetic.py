"""Synthetic media: silence, a sine tone and a moving test pattern, for placeholders,
fixtures and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import ffmpeg

from vidpipe.media.filters import _mp4_opts, _prepare_out, ff_number
from vidpipe.media.formats import (
    AUDIO_OPTS,
    AUDIO_RATE,
    BITEXACT_OPTS,
    VIDEO_OPTS,
    X264_PRESET,
    VideoTarget,
)
from vidpipe.media.runner import run_ffmpeg


def audio_codec_opts(out: Path) -> dict[str, object]:
    suffix = out.suffix.lower()
    if suffix == ".mp3":
        return {"c:a": "libmp3lame", "b:a": "128k"}
    if suffix == ".wav":
        return {"c:a": "pcm_s16le"}
    return {"c:a": "aac", "b:a": "128k"}


def silent_audio(out: str | os.PathLike[str], *, duration_s: float, channels: int = 2) -> Path:
    """Silence of `duration_s` (codec from the suffix: .m4a/.mp4 AAC, .mp3, .wav)."""
    dest = _prepare_out(out)
    layout = "stereo" if channels == 2 else "mono"
    src = ffmpeg.input(
        f"anullsrc=channel_layout={layout}:sample_rate={AUDIO_RATE}",
        f="lavfi",
        t=ff_number(duration_s),
    )
    args = src.output(
        str(dest), **audio_codec_opts(dest), fflags="+bitexact", **{"flags:a": "+bitexact"}
    ).get_args()
    run_ffmpeg(args, operation="silent_audio", output=dest)
    return dest


def tone(
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    frequency: float = 440.0,
    volume: float = 0.5,
) -> Path:
    """A sine tone (stereo 48 kHz): test signal and music stand-in."""
    dest = _prepare_out(out)
    src = ffmpeg.input(
        f"sine=frequency={ff_number(frequency)}:sample_rate={AUDIO_RATE}",
        f="lavfi",
        t=ff_number(duration_s),
    )
    audio = src.audio.filter("volume", ff_number(volume)).filter(
        "aformat", channel_layouts="stereo"
    )
    args = ffmpeg.output(
        audio,
        str(dest),
        **audio_codec_opts(dest),
        fflags="+bitexact",
        **{"flags:a": "+bitexact"},
    ).get_args()
    run_ffmpeg(args, operation="tone", output=dest)
    return dest


def synthetic_clip(
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    target: VideoTarget,
    audio: bool = True,
    frequency: float = 440.0,
    preset: str = X264_PRESET,
) -> Path:
    """A moving test pattern (testsrc2) with an optional tone: fixtures and benchmarks."""
    dest = _prepare_out(out)
    pattern = ffmpeg.input(
        f"testsrc2=size={target.width}x{target.height}:rate={ff_number(target.fps)}",
        f="lavfi",
        t=ff_number(duration_s),
    ).video.filter("format", "yuv420p")
    streams = [pattern]
    opts: dict[str, object] = {**VIDEO_OPTS, "preset": preset, **BITEXACT_OPTS}
    if audio:
        sound = ffmpeg.input(
            f"sine=frequency={ff_number(frequency)}:sample_rate={AUDIO_RATE}",
            f="lavfi",
            t=ff_number(duration_s),
        ).audio.filter("aformat", channel_layouts="stereo")
        streams.append(sound)
        opts.update(AUDIO_OPTS)
    args = ffmpeg.output(
        *streams, str(dest), **opts, **_mp4_opts(dest), t=ff_number(duration_s)
    ).get_args()
    run_ffmpeg(args, operation="synthetic_clip", output=dest)
    return dest
