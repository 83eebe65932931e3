"""FFmpeg operations and probing: the media toolkit behind the editing node types.

Every operation is split in two, as ffmpeg-python's own tests do it:

* a pure ``build_*_args`` function turns the operation into FFmpeg's argument list (built
  with ffmpeg-python, so filter arguments are escaped for us), which tests compare as data;
* :func:`run_ffmpeg`, the one runner, executes it: a bounded number of FFmpeg processes
  at once (``VIDPIPE_FFMPEG_THREADS``, 0 = one per core), a timeout
  (``VIDPIPE_FFMPEG_TIMEOUT_S``), stderr captured, output written to a temporary file next
  to the destination and moved into place with ``os.replace`` only on success. Failures
  raise :class:`~vidpipe.errors.MediaError` with the operation's name and the tail of
  FFmpeg's stderr.

The binary is ``VIDPIPE_FFMPEG`` if set, else an ``ffmpeg`` on ``PATH``, else the static
build shipped by the ``imageio-ffmpeg`` wheel. That wheel has no ffprobe, so
:func:`probe` reads the stream summary FFmpeg prints for ``ffmpeg -i FILE``.

Conventions of the outputs: video is H.264 yuv420p with square pixels, audio is AAC
48 kHz stereo, MP4 files get ``+faststart``; the ``+bitexact`` flags keep encoder version
strings out of the files so the same input gives the same bytes on the same build.

This package imports no Prefect: it is a plain library the tasks call.

Files: formats.py (encoder conventions, data types, bundled fonts), runner.py (the FFmpeg
runner, its process limit and process registry), probing.py (probe, decode check,
duration and volume), filters.py (argument-list building blocks), clips.py (normalise,
still to video, merge), layers.py (mix_audio, compose), reframing.py (reframe: crop, pad,
blur), branding.py (apply_brand: intro, outro, logo), screencast.py (render_code),
synthetic.py (silence, tone, test pattern), speech.py (speak: eSpeak NG reads a script
aloud offline and times its words).
"""

from vidpipe.media.branding import apply_brand, build_brand_args
from vidpipe.media.burning import build_burn_args, burn_subtitles, filter_value
from vidpipe.media.clips import (
    build_concat_copy_args,
    build_crossfade_args,
    build_normalize_args,
    build_still_args,
    can_stream_copy,
    concat_list_text,
    merge,
    normalize,
    still_to_video,
)
from vidpipe.media.filters import ff_number, fit_video, silence_stream, stereo_audio
from vidpipe.media.formats import (
    AUDIO_OPTS,
    BITEXACT_OPTS,
    VIDEO_OPTS,
    MediaInfo,
    MergeResult,
    Position,
    VideoTarget,
    font_path,
)
from vidpipe.media.layers import (
    build_compose_args,
    build_mix_args,
    compose,
    mix_audio,
    overlay_geometry,
)
from vidpipe.media.probing import (
    build_decode_check_args,
    check_decodes,
    duration,
    has_audio,
    mean_volume_db,
    parse_probe_output,
    probe,
)
from vidpipe.media.reframing import (
    REFRAME_MODES,
    build_reframe_args,
    reframe,
    reframe_picture,
)
from vidpipe.media.runner import ffmpeg_binary, run_ffmpeg, stop_all
from vidpipe.media.screencast import build_render_code_args, render_code
from vidpipe.media.speech import EmptyTextError, speak
from vidpipe.media.synthetic import audio_codec_opts, silent_audio, synthetic_clip, tone

__all__ = [
    "VideoTarget",
    "MediaInfo",
    "MergeResult",
    "Position",
    "ffmpeg_binary",
    "fit_video",
    "stereo_audio",
    "silence_stream",
    "ff_number",
    "VIDEO_OPTS",
    "AUDIO_OPTS",
    "BITEXACT_OPTS",
    "font_path",
    "run_ffmpeg",
    "stop_all",
    "probe",
    "check_decodes",
    "build_decode_check_args",
    "parse_probe_output",
    "duration",
    "has_audio",
    "mean_volume_db",
    "normalize",
    "build_normalize_args",
    "still_to_video",
    "build_still_args",
    "merge",
    "can_stream_copy",
    "concat_list_text",
    "build_concat_copy_args",
    "build_crossfade_args",
    "mix_audio",
    "build_mix_args",
    "compose",
    "overlay_geometry",
    "build_compose_args",
    "reframe",
    "reframe_picture",
    "build_reframe_args",
    "REFRAME_MODES",
    "apply_brand",
    "build_brand_args",
    "burn_subtitles",
    "build_burn_args",
    "filter_value",
    "render_code",
    "build_render_code_args",
    "audio_codec_opts",
    "silent_audio",
    "tone",
    "synthetic_clip",
    "speak",
    "EmptyTextError",
]
