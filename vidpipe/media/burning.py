"""Burning subtitles into a video: an ASS file drawn by libass (FFmpeg's `ass` filter)
with the bundled fonts, over the clip fitted to the pipeline's format.

The ASS file and the fonts folder are named inside the filter graph, where `:`, `=`,
`,`, `;`, `[`, `]`, quotes, backslashes and leading or trailing spaces mean something.
:func:`filter_value` escapes a value at both levels FFmpeg reads it (the filter's
options, then the graph), so any path works. ffmpeg-python escapes such values once too
often, so the `ass` filter is built with stand-in values that are replaced afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.media.filters import _mp4_opts, _prepare_out, ff_number, fit_video
from vidpipe.media.formats import BITEXACT_OPTS, FONTS_DIR, VIDEO_OPTS, VideoTarget
from vidpipe.media.probing import _require
from vidpipe.media.runner import run_ffmpeg

#: Stand-ins ffmpeg-python leaves alone, replaced by the escaped paths.
_ASS_FILE, _FONTS_DIR = "VIDPIPEASSFILE", "VIDPIPEFONTSDIR"
_OPTION_SPECIALS = "\\':="
_GRAPH_SPECIALS = "\\'[],;"


def _escape(text: str, specials: str) -> str:
    return "".join("\\" + c if c in specials or c.isspace() else c for c in text)


def filter_value(text: str) -> str:
    """`text` as one option value of a filter in a filter graph: escaped for the
    filter's options, then for the graph (FFmpeg's "filtergraph escaping")."""
    return _escape(_escape(text, _OPTION_SPECIALS), _GRAPH_SPECIALS)


def build_burn_args(
    video: str | os.PathLike[str],
    ass_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
    duration_s: float,
    has_audio: bool,
    fonts_dir: str | os.PathLike[str] = FONTS_DIR,
) -> list[str]:
    """Arguments drawing `ass_file` over `video` fitted to `target` (see
    :func:`~vidpipe.media.fit_video`); the audio stream is copied, the length kept."""
    src = ffmpeg.input(str(video))
    picture = fit_video(src.video, target).filter("ass", filename=_ASS_FILE, fontsdir=_FONTS_DIR)
    streams = [picture, src.audio] if has_audio else [picture]
    audio_opts = {"c:a": "copy"} if has_audio else {}
    args = ffmpeg.output(
        *streams,
        str(out),
        **VIDEO_OPTS,
        **audio_opts,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()
    graph = args.index("-filter_complex") + 1
    args[graph] = (
        args[graph]
        .replace(_ASS_FILE, filter_value(str(Path(ass_file).absolute())))
        .replace(_FONTS_DIR, filter_value(str(Path(fonts_dir).absolute())))
    )
    return args


def burn_subtitles(
    video: str | os.PathLike[str],
    ass_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: VideoTarget,
) -> Path:
    """`video` with the subtitles of `ass_file` drawn on it (see :func:`build_burn_args`);
    the ASS file's canvas should be the target's size."""
    info = _require(video, "burn_subtitles", video=True)
    if info.is_image or not info.duration_s:
        raise MediaError(
            "is a still image, not a clip", operation="burn_subtitles", path=str(video)
        )
    if not Path(ass_file).is_file():
        raise MediaError("no subtitle file", operation="burn_subtitles", path=str(ass_file))
    dest = _prepare_out(out)
    args = build_burn_args(
        video, ass_file, dest, target=target, duration_s=info.duration_s, has_audio=info.has_audio
    )
    run_ffmpeg(args, operation="burn_subtitles", output=dest)
    return dest
