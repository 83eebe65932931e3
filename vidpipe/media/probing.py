"""What a media file holds, read from the stream summary FFmpeg prints for ``ffmpeg -i``.

The ``imageio-ffmpeg`` build has no ffprobe, so :func:`probe` parses FFmpeg's banner
(:func:`parse_probe_output` is pure and tested on captured text). Also here:
:func:`check_decodes`, the shortcuts :func:`duration`, :func:`has_audio` and
:func:`mean_volume_db`, and the input checks the operations share.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vidpipe.errors import MediaError
from vidpipe.media.formats import MediaInfo
from vidpipe.media.runner import _tail, run_ffmpeg
from vidpipe.settings import get_settings

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
