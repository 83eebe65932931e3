"""The media files vidpipe makes: encoder conventions, data types and bundled fonts.

Video is H.264 yuv420p with square pixels, audio is AAC 48 kHz stereo, MP4 files get
``+faststart``; the ``+bitexact`` flags keep encoder version strings out of the files so
the same input gives the same bytes on the same build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FONTS_DIR = Path(__file__).parent.with_name("fonts")
X264_PRESET = "veryfast"
X264_CRF = 20
AUDIO_RATE = 48000

# Encoder settings every produced file shares, so that two outputs of this package can be
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


# --------------------------------------------------------------------------- fonts


def font_path(name: str = "DejaVuSansMono.ttf") -> Path:
    """A font bundled with vidpipe (DejaVu, see fonts/LICENSE_DEJAVU); never a system font."""
    path = FONTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"bundled font {name!r} not found in {FONTS_DIR}")
    return path
