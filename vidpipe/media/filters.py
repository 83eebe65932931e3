"""Building blocks of FFmpeg argument lists: numbers as FFmpeg reads them, silence, inputs,
and the filters that bring video and audio to the pipeline's format."""

from __future__ import annotations

import os
from pathlib import Path

import ffmpeg

from vidpipe.media.formats import AUDIO_RATE, MP4_SUFFIXES, VideoTarget


def ff_number(value: float) -> str:
    """A number as FFmpeg should see it: short, no float noise (0.1+0.2 -> '0.3')."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def silence_stream(duration_s: float) -> ffmpeg.nodes.FilterableStream:
    return ffmpeg.input(
        f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE}",
        f="lavfi",
        t=ff_number(duration_s),
    ).audio


def _input(path: str | os.PathLike[str], use: int, **kwargs) -> ffmpeg.nodes.FilterableStream:
    """``ffmpeg.input(path, **kwargs)`` as an FFmpeg input (``-i``) of its own, even when
    the same file is already an input: `use` tells the inputs of one graph apart.

    ffmpeg-python merges equal nodes, so two ``ffmpeg.input`` calls on one file would be one
    ``-i``, and the same filters applied to each one filter output consumed twice, which it
    refuses ("multiple outgoing edges ... a split filter is probably required"). Giving
    every use its own ``-i`` is what two different files get: each is decoded on its own
    and read only as fast as its branch needs it. A ``split`` instead keeps every frame the
    slower branch has not read yet (a 20 s 720p clip crossfading into itself held 1.9 GB).
    An input node's positional args are part of its identity but not of its arguments.
    """
    stream = ffmpeg.input(str(path), **kwargs)
    if not use:
        return stream
    node = stream.node
    return ffmpeg.nodes.InputNode(node.name, args=[use], kwargs=node.kwargs).stream()


def fit_video(stream: ffmpeg.nodes.FilterableStream, target: VideoTarget):
    """Scale to fit inside the target and pad the rest (never stretch), square pixels,
    constant frame rate, yuv420p: the shape every clip is brought to before joining."""
    return (
        stream.filter(
            "scale",
            target.width,
            target.height,
            force_original_aspect_ratio="decrease",
            force_divisible_by=2,
            out_range="tv",  # full-range (yuvj) stills would not concat with video
        )
        .filter("pad", target.width, target.height, "(ow-iw)/2", "(oh-ih)/2")
        .filter("setsar", 1)
        .filter("fps", fps=ff_number(target.fps))
        .filter("format", "yuv420p")
    )


def stereo_audio(stream: ffmpeg.nodes.FilterableStream):
    return stream.filter(
        "aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE, channel_layouts="stereo"
    )


def _mp4_opts(out: Path) -> dict[str, object]:
    return {"movflags": "+faststart"} if out.suffix.lower() in MP4_SUFFIXES else {}


def _prepare_out(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
