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

This module imports no Prefect: it is a plain library the tasks call.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Literal

import ffmpeg

from vidpipe.errors import MediaError
from vidpipe.settings import get_settings

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
    "render_code",
    "build_render_code_args",
    "audio_codec_opts",
    "silent_audio",
    "tone",
    "synthetic_clip",
]

FONTS_DIR = Path(__file__).with_name("fonts")
STDERR_TAIL_LINES = 20
X264_PRESET = "veryfast"
X264_CRF = 20
AUDIO_RATE = 48000

# Encoder settings every produced file shares, so that two outputs of this module can be
# concatenated by stream copy.
VIDEO_OPTS: dict[str, object] = {
    "c:v": "libx264",
    "preset": X264_PRESET,
    "crf": X264_CRF,
    "pix_fmt": "yuv420p",
}
AUDIO_OPTS: dict[str, object] = {"c:a": "aac", "b:a": "128k", "ar": AUDIO_RATE, "ac": 2}
# Keep library version strings out of the files: same input, same bytes (on one build).
BITEXACT_OPTS: dict[str, object] = {
    "fflags": "+bitexact",
    "flags:v": "+bitexact",
    "flags:a": "+bitexact",
}
MP4_SUFFIXES = {".mp4", ".m4v", ".mov", ".m4a"}
COPYABLE_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1"}
IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}

Position = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class VideoTarget:
    """The pipeline's video format: what generated and normalised clips are made to fit."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError(f"video target must be positive, got {self}")
        if self.width % 2 or self.height % 2:
            # yuv420p (what every player accepts) needs even dimensions.
            raise ValueError(f"video target needs even width and height, got {self}")


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learnt about a file. Absent streams leave their fields None."""

    path: str
    format: str
    duration_s: float | None
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    video_profile: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pix_fmt: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    @property
    def is_image(self) -> bool:
        """A still picture (png, jpg...): it has a frame but no meaningful duration."""
        return self.has_video and not self.has_audio and self.format in IMAGE_FORMATS


@dataclass(frozen=True)
class MergeResult:
    """The merged file, and whether it was made by stream copy (no re-encode)."""

    path: Path
    stream_copied: bool


# --------------------------------------------------------------------------- the runner


def ffmpeg_binary() -> str:
    """The FFmpeg to run: ``VIDPIPE_FFMPEG``, else one on PATH, else the imageio-ffmpeg one."""
    configured = get_settings().ffmpeg
    if configured:
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg  # imported late: it looks for its binary on import of the getter

    return imageio_ffmpeg.get_ffmpeg_exe()


def font_path(name: str = "DejaVuSansMono.ttf") -> Path:
    """A font bundled with vidpipe (DejaVu, see fonts/LICENSE_DEJAVU); never a system font."""
    path = FONTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"bundled font {name!r} not found in {FONTS_DIR}")
    return path


_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def _ffmpeg_slots() -> threading.BoundedSemaphore:
    """The process-wide limit on concurrent FFmpeg processes, made on first use.

    Many task threads may call FFmpeg at once; each FFmpeg already uses every core, so
    running more of them than cores only adds memory and context switches.
    """
    global _slots
    with _slots_lock:
        if _slots is None:
            size = get_settings().ffmpeg_threads or os.cpu_count() or 1
            _slots = threading.BoundedSemaphore(max(1, size))
        return _slots


def _temp_output(output: Path) -> Path:
    """A unique temporary name beside `output`, keeping its suffix (FFmpeg picks the muxer
    from it) and hidden, so a half-written file is never mistaken for the real one."""
    token = os.urandom(4).hex()
    return output.with_name(f".{output.stem}.{token}.part{output.suffix}")


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ffmpeg(
    args: Sequence[str],
    *,
    operation: str,
    output: str | os.PathLike[str] | None = None,
    feed: Callable[[IO[bytes]], None] | None = None,
    check: bool = True,
    timeout_s: float | None = None,
) -> str:
    """Run FFmpeg with `args` (without the binary) and return its stderr.

    `output`, when given, must appear once in `args`: FFmpeg writes to a temporary file
    beside it, which replaces `output` only if FFmpeg succeeded. `feed` writes FFmpeg's
    stdin (for piped frames). With `check=False` a non-zero exit is returned, not raised
    (probing runs ``ffmpeg -i FILE``, which always "fails" for want of an output).
    """
    timeout = timeout_s if timeout_s is not None else get_settings().ffmpeg_timeout_s
    args = [str(a) for a in args]
    target = Path(output) if output is not None else None
    tmp: Path | None = None
    if target is not None:
        if args.count(str(target)) != 1:
            raise ValueError(f"output {target} must appear exactly once in the arguments")
        tmp = _temp_output(target)
        args[args.index(str(target))] = str(tmp)
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostats", "-y", *args]
    try:
        with _ffmpeg_slots():
            returncode, stderr = _execute(cmd, feed, timeout, operation, target)
        if check and returncode != 0:
            raise MediaError(
                f"ffmpeg exited with code {returncode}",
                operation=operation,
                path=str(target or ""),
                stderr_tail=_tail(stderr),
            )
        if tmp is not None and target is not None:
            if not tmp.is_file():
                raise MediaError(
                    "ffmpeg wrote no output",
                    operation=operation,
                    path=str(target),
                    stderr_tail=_tail(stderr),
                )
            os.replace(tmp, target)
        return stderr
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


#: FFmpeg processes running now, so a run that stops (cancelled, interrupted) can stop
#: them too instead of waiting for each to finish.
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


@lru_cache(maxsize=1)
def _die_with_parent() -> tuple[str, ...]:
    """A prefix that makes FFmpeg die with the process that started it (Linux's parent
    death signal, through util-linux `setpriv`), so a worker killed outright leaves no
    FFmpeg running on for up to its timeout; empty where `setpriv` is missing."""
    found = shutil.which("setpriv")
    return (found, "--pdeathsig", "KILL", "--") if found else ()


def stop_all() -> int:
    """Kill every FFmpeg process this process started that still runs; returns how many.
    Their runs fail with a MediaError, which the stopping run has already accounted for."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.kill()
    return len(procs)


def _execute(
    cmd: list[str],
    feed: Callable[[IO[bytes]], None] | None,
    timeout: float,
    operation: str,
    target: Path | None,
) -> tuple[int, str]:
    """Run one FFmpeg process with a deadline. Stderr goes to a temporary file, not a pipe,
    so a chatty FFmpeg can never block while we are busy writing its stdin."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                [*_die_with_parent(), *cmd],
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errfile,
            )
        except OSError as exc:
            raise MediaError(f"cannot start ffmpeg ({cmd[0]}): {exc}", operation=operation) from exc
        with _running_lock:
            _running.add(proc)
        try:
            if feed is not None and proc.stdin is not None:
                try:
                    feed(_DeadlineWriter(proc.stdin, deadline))
                    proc.stdin.close()
                except BrokenPipeError:
                    pass  # FFmpeg stopped reading: its exit code and stderr say why
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except (subprocess.TimeoutExpired, TimeoutError) as exc:
            proc.kill()
            proc.wait()
            raise MediaError(
                f"ffmpeg timed out after {timeout:g} s",
                operation=operation,
                path=str(target or ""),
            ) from exc
        finally:
            with _running_lock:
                _running.discard(proc)
            if proc.stdin is not None and not proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", errors="replace")
    return proc.returncode, stderr


class _DeadlineWriter:
    """A stdin wrapper that stops a feeder once the runner's deadline has passed."""

    def __init__(self, stream: IO[bytes], deadline: float):
        self._stream = stream
        self._deadline = deadline

    def write(self, data: bytes) -> int:
        if time.monotonic() > self._deadline:
            raise TimeoutError("ffmpeg feed deadline passed")
        return self._stream.write(data)


# --------------------------------------------------------------------------- probing

_INPUT_RE = re.compile(r"^Input #0, (?P<format>.+?), from '")
_DURATION_RE = re.compile(r"^\s*Duration: (?:N/A|(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?))")
_STREAM_RE = re.compile(
    r"^\s*Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: (?P<kind>\w+): (?P<detail>.*)$"
)
_SIZE_RE = re.compile(r"^(?P<w>\d+)x(?P<h>\d+)(?:\s|$)")
_RATE_RE = re.compile(r"^(?P<v>\d+(?:\.\d+)?)(?P<k>k?) (?P<unit>fps|tbr)$")
_HZ_RE = re.compile(r"^(?P<hz>\d+) Hz$")
_CHANNELS_RE = re.compile(r"^(?P<n>\d+) channels")
_TIME_RE = re.compile(r"time=(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6}


def _split_top_level(text: str) -> list[str]:
    """Split a stream description on commas that are not inside parentheses/brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _channels_from_layout(layout: str) -> int | None:
    m = _CHANNELS_RE.match(layout)
    if m:
        return int(m.group("n"))
    name = layout.split("(")[0].strip()
    if name in _LAYOUT_CHANNELS:
        return _LAYOUT_CHANNELS[name]
    m = re.fullmatch(r"(\d+)\.(\d+)", name)  # 5.1 -> 6, 7.1 -> 8, 2.1 -> 3
    return int(m.group(1)) + int(m.group(2)) if m else None


def _parse_video(detail: str) -> dict[str, object]:
    parts = _split_top_level(detail)
    found: dict[str, object] = {"video_codec": parts[0].split()[0]}
    profile = re.match(r"^\S+ \(([^)/]+)\)", parts[0])
    if profile:
        found["video_profile"] = profile.group(1)
    tbr: float | None = None
    for index, part in enumerate(parts[1:], start=1):
        if size := _SIZE_RE.match(part):
            found["width"], found["height"] = int(size["w"]), int(size["h"])
        elif rate := _RATE_RE.match(part):
            value = float(rate["v"]) * (1000 if rate["k"] else 1)
            if rate["unit"] == "fps":
                found["fps"] = value
            else:
                tbr = value
        elif index == 1 and re.match(r"^[a-z0-9_]+(\(.*\))?$", part):
            found["pix_fmt"] = part.split("(")[0]
    if "fps" not in found and tbr is not None:
        found["fps"] = tbr
    return found


def _parse_audio(detail: str) -> dict[str, object]:
    parts = _split_top_level(detail)
    found: dict[str, object] = {"audio_codec": parts[0].split()[0]}
    for part in parts[1:]:
        if hz := _HZ_RE.match(part):
            found["sample_rate"] = int(hz["hz"])
        elif "sample_rate" in found and "channels" not in found:
            channels = _channels_from_layout(part)
            if channels is not None:
                found["channels"] = channels
    return found


def parse_probe_output(stderr: str, path: str) -> MediaInfo:
    """Read the summary ``ffmpeg -i FILE`` prints for input #0 into a :class:`MediaInfo`.

    Pure, so it is tested on captured text. Only the first video and first audio stream
    count; cover art (``attached pic``) is not video.
    """
    fmt: str | None = None
    duration_s: float | None = None
    video: dict[str, object] | None = None
    audio: dict[str, object] | None = None
    for line in stderr.splitlines():
        if line.startswith(("Input #1", "Output #")):
            break
        if m := _INPUT_RE.match(line):
            fmt = m["format"]
        elif m := _DURATION_RE.match(line):
            if m["h"] is not None:
                duration_s = int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"])
        elif m := _STREAM_RE.match(line):
            kind, detail = m["kind"], m["detail"]
            if kind == "Video" and video is None and "(attached pic)" not in detail:
                video = _parse_video(detail)
            elif kind == "Audio" and audio is None:
                audio = _parse_audio(detail)
    if fmt is None:
        raise MediaError("not a readable media file", operation="probe", path=path)
    if video is None and audio is None:
        raise MediaError("no audio or video stream", operation="probe", path=path)
    info = MediaInfo(
        path=path,
        format=fmt,
        duration_s=duration_s,
        has_video=video is not None,
        has_audio=audio is not None,
        **(video or {}),
        **(audio or {}),
    )
    if info.is_image:
        return MediaInfo(**{**info.__dict__, "duration_s": None})
    return info


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Duration, streams, codecs, size, fps, sample rate and channels of a media file.

    A missing, empty or unreadable file raises :class:`MediaError` naming it. Still
    images are supported (``duration_s`` is None for them).
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError("file not found", operation="probe", path=str(p))
    if p.stat().st_size == 0:
        raise MediaError("file is empty", operation="probe", path=str(p))
    stderr = run_ffmpeg(["-i", str(p)], operation="probe", check=False)
    try:
        info = parse_probe_output(stderr, str(p))
    except MediaError as exc:
        raise MediaError(
            _reason(exc),
            operation="probe",
            path=str(p),
            stderr_tail=_tail(stderr, 5),
        ) from None
    if info.duration_s is None and not info.is_image:
        info = MediaInfo(**{**info.__dict__, "duration_s": _measure_duration(p)})
    return info


def build_decode_check_args(path: str, kind: str) -> list[str]:
    """Decode the start of `path` (the first frame of an image or video, the first second
    of audio) to nowhere, stopping at the first decoding error."""
    stream = (
        ["-map", "0:a:0", "-t", "1"] if kind == "audio" else ["-map", "0:v:0", "-frames:v", "1"]
    )
    return ["-v", "error", "-xerror", "-i", path, *stream, "-f", "null", "-"]


def check_decodes(path: str | os.PathLike[str], kind: str) -> None:
    """Raise `MediaError` unless the start of the file really decodes as `kind`.

    A probe only reads headers: a file with a valid signature and broken data passes it,
    and later FFmpeg work on it can fail late or, looping a still image, never finish.
    Decoding the first frame (or second) finds it at once.
    """
    run_ffmpeg(
        build_decode_check_args(str(path), kind),
        operation="decode check",
        timeout_s=min(60.0, get_settings().ffmpeg_timeout_s),
    )


def _measure_duration(path: Path) -> float | None:
    """Duration of a file whose container does not state it: remux it to nowhere (no
    decoding, so this is fast) and read the last timestamp FFmpeg reports."""
    stderr = run_ffmpeg(
        ["-stats", "-i", str(path), "-map", "0", "-c", "copy", "-f", "null", "-"],
        operation="probe",
        check=False,
    )
    times = _TIME_RE.findall(stderr.replace("\r", "\n"))
    if not times:
        return None
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds (0 for a still image)."""
    return probe(path).duration_s or 0.0


def has_audio(path: str | os.PathLike[str]) -> bool:
    return probe(path).has_audio


def mean_volume_db(path: str | os.PathLike[str]) -> float:
    """Mean volume of the first audio stream in dBFS (volumedetect); -inf for silence."""
    info = _require(path, "volumedetect", audio=True)
    stderr = run_ffmpeg(
        ["-i", info.path, "-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"],
        operation="volumedetect",
    )
    m = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", stderr)
    if not m:
        raise MediaError(
            "volumedetect printed no mean volume",
            operation="volumedetect",
            path=info.path,
            stderr_tail=_tail(stderr),
        )
    return float(m.group(1))


def _reason(exc: MediaError) -> str:
    """The bare message of a MediaError, without its operation, path and stderr."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return first.removeprefix(f"{exc.operation}: ").removesuffix(f" ({exc.path})")


def _require(
    path: str | os.PathLike[str], operation: str, *, video: bool = False, audio: bool = False
) -> MediaInfo:
    """Probe an input of `operation` and insist on the streams it needs, naming the file."""
    try:
        info = probe(path)
    except MediaError as exc:
        raise MediaError(
            f"cannot read input: {_reason(exc)}",
            operation=operation,
            path=str(path),
            stderr_tail=exc.stderr_tail,
        ) from None
    if video and not info.has_video:
        raise MediaError("input has no video stream", operation=operation, path=str(path))
    if audio and not info.has_audio:
        raise MediaError("input has no audio stream", operation=operation, path=str(path))
    return info


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- render_code

MAX_TYPING_UPDATES_PER_S = 10.0  # distinct frames while typing; the rest are duplicates


@dataclass(frozen=True)
class _Glyph:
    char: str
    x: int
    y: int
    color: tuple[int, int, int]
    bold: bool


@dataclass(frozen=True)
class _CodeLayout:
    """Where every keystroke of a snippet lands on screen, and in which colour."""

    size: tuple[int, int]
    background: tuple[int, int, int]
    cursor: tuple[int, int, int]
    cell: tuple[int, int]  # width, height of one character cell
    font_px: int
    keystrokes: tuple[_Glyph, ...]  # every character typed, newlines and spaces included


def _hex_rgb(value: str | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if not value:
        return default
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _clean_code(code: str) -> str:
    lines = code.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _layout_code(code: str, language: str, theme: str, size: tuple[int, int]) -> _CodeLayout:
    """Highlight with Pygments and place each character on a monospace grid whose font
    size is the largest that fits the snippet (capped, so short snippets stay readable)."""
    from PIL import ImageFont
    from pygments.lexers import get_lexer_by_name
    from pygments.styles import get_style_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        raise ValueError(f"unknown code language {language!r} (a Pygments lexer name)") from None
    try:
        style = get_style_by_name(theme)
    except ClassNotFound:
        raise ValueError(f"unknown code theme {theme!r} (a Pygments style name)") from None

    background = _hex_rgb(style.background_color, (0, 0, 0))
    luminance = sum(background) / 3
    default_fg = (230, 230, 230) if luminance < 128 else (30, 30, 30)
    width, height = size
    lines = code.split("\n")
    rows, cols = max(1, len(lines)), max(1, max(len(line) for line in lines))

    probe_font = ImageFont.truetype(str(font_path()), 100)
    advance_per_px = probe_font.getlength("M") / 100
    line_factor = 1.4
    font_px = int(
        min(
            (height * 0.9) / (rows * line_factor),
            (width * 0.92) / (cols * advance_per_px),
            height / 18,
        )
    )
    font_px = max(6, font_px)
    cell_w = ImageFont.truetype(str(font_path()), font_px).getlength("M")
    cell_h = round(font_px * line_factor)
    left = round((width - cell_w * cols) / 2) if cols * cell_w < width * 0.92 else 0
    left = max(round(width * 0.04), min(left, round(width * 0.08)))
    top = max(round(height * 0.05), round((height - cell_h * rows) / 2 * 0.5))

    keystrokes: list[_Glyph] = []
    row = col = 0
    for ttype, value in lexer.get_tokens(code):
        token_style = style.style_for_token(ttype)
        color = _hex_rgb(token_style.get("color"), default_fg)
        bold = bool(token_style.get("bold"))
        for ch in value:
            keystrokes.append(
                _Glyph(ch, left + round(col * cell_w), top + row * cell_h, color, bold)
            )
            if ch == "\n":
                row, col = row + 1, 0
            else:
                col += 1
    return _CodeLayout(
        size=size,
        background=background,
        cursor=default_fg,
        cell=(round(cell_w), cell_h),
        font_px=font_px,
        keystrokes=tuple(keystrokes),
    )


def _typing_schedule(
    keystrokes: int, chars_per_second: float, fps: float
) -> tuple[float, list[int]]:
    """The distinct frames of the typing: their rate and how many characters each shows.

    Distinct frames come at most 10 a second (typing looks the same, and each frame is a
    full raw picture to pipe); FFmpeg repeats them up to the output frame rate.
    """
    rate = min(float(fps), MAX_TYPING_UPDATES_PER_S, float(chars_per_second))
    if keystrokes == 0:
        return rate, [0]
    frames = max(1, math.ceil(keystrokes / chars_per_second * rate))
    shown = [min(keystrokes, math.floor((k + 1) * chars_per_second / rate)) for k in range(frames)]
    shown[-1] = keystrokes
    return rate, shown


def _code_frames(layout: _CodeLayout, shown: list[int]) -> Iterable[bytes]:
    """Raw RGB frames, drawn incrementally: each frame adds only the newly typed glyphs
    (and moves the cursor), so rendering costs little more than piping the pixels."""
    from PIL import Image, ImageDraw, ImageFont

    regular = ImageFont.truetype(str(font_path()), layout.font_px)
    bold = ImageFont.truetype(str(font_path("DejaVuSansMono-Bold.ttf")), layout.font_px)
    canvas = Image.new("RGB", layout.size, layout.background)
    draw = ImageDraw.Draw(canvas)
    cell_w, cell_h = layout.cell
    cursor_box: tuple[int, int, int, int] | None = None
    drawn = 0
    for count in shown:
        if cursor_box:
            draw.rectangle(cursor_box, fill=layout.background)
        for glyph in layout.keystrokes[drawn:count]:
            if not glyph.char.isspace():
                font = bold if glyph.bold else regular
                draw.text((glyph.x, glyph.y), glyph.char, font=font, fill=glyph.color)
        drawn = count
        cursor_box = _cursor_box(layout, drawn, cell_w, cell_h)
        draw.rectangle(cursor_box, fill=layout.cursor)
        yield canvas.tobytes()


def _cursor_box(layout: _CodeLayout, typed: int, cell_w: int, cell_h: int):
    """A thin bar after the last typed character (at the start of the next line after a
    newline)."""
    if typed == 0:
        first = layout.keystrokes[0] if layout.keystrokes else None
        x, y = (first.x, first.y) if first else (0, 0)
    else:
        last = layout.keystrokes[typed - 1]
        if last.char == "\n":
            origin = layout.keystrokes[0]
            x, y = origin.x, last.y + cell_h
        else:
            x, y = last.x + cell_w, last.y
    bar = max(2, cell_w // 5)
    return (x, y + cell_h // 10, x + bar, y + cell_h - cell_h // 10)


def build_render_code_args(
    out: str | os.PathLike[str],
    *,
    size: tuple[int, int],
    input_rate: float,
    frames: int,
    hold_s: float,
    fps: float,
) -> list[str]:
    """Arguments encoding `frames` raw RGB frames from stdin at `input_rate`, holding the
    last one for `hold_s` and repeating frames up to the output `fps`. Silent audio is
    added so the screencast merges with other clips by stream copy."""
    duration_s = frames / input_rate + hold_s
    typed = ffmpeg.input(
        "pipe:", f="rawvideo", pix_fmt="rgb24", s=f"{size[0]}x{size[1]}", r=ff_number(input_rate)
    ).video
    # Convert colours once per distinct frame, before they are repeated.
    typed = typed.filter("format", "yuv420p")
    if hold_s > 0:
        typed = typed.filter("tpad", stop_mode="clone", stop_duration=ff_number(hold_s))
    video = typed.filter("fps", fps=ff_number(fps)).filter("setsar", 1)
    return ffmpeg.output(
        video,
        silence_stream(duration_s),
        str(out),
        **{**VIDEO_OPTS, "tune": "stillimage"},
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()


def render_code(
    code: str,
    out: str | os.PathLike[str],
    *,
    language: str,
    theme: str = "monokai",
    chars_per_second: float = 30,
    hold_s: float = 2,
    size: tuple[int, int] = (1920, 1080),
    fps: float = 30,
) -> Path:
    """A code screencast: `code` highlighted by Pygments (`language` is a lexer name,
    `theme` a style name; unknown ones raise ValueError), typed at `chars_per_second`
    then held for `hold_s`, rendered natively at `size` with the bundled DejaVu Sans Mono
    so it is sharp at 1080p. Only the distinct frames are drawn (Pillow) and piped.
    """
    if chars_per_second <= 0 or hold_s < 0 or fps <= 0:
        raise ValueError("chars_per_second and fps must be positive, hold_s not negative")
    VideoTarget(size[0], size[1], fps)  # validates the size (even, positive)
    layout = _layout_code(_clean_code(code), language, theme, size)
    rate, shown = _typing_schedule(len(layout.keystrokes), chars_per_second, fps)
    dest = _prepare_out(out)
    args = build_render_code_args(
        dest, size=size, input_rate=rate, frames=len(shown), hold_s=hold_s, fps=fps
    )

    def feed(stdin: IO[bytes]) -> None:
        for frame in _code_frames(layout, shown):
            stdin.write(frame)

    run_ffmpeg(args, operation="render_code", output=dest, feed=feed)
    return dest


# --------------------------------------------------------------------------- generators


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
