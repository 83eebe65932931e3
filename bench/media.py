"""Media benchmark: merge by stream copy vs by re-encode, and render_code at 1080p.

Run: ``.venv/bin/python bench/media.py`` (not part of the test suite). Prints the times
and the copy/re-encode ratio; the design's goal is a ratio of at least 20x.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from vidpipe import media
from vidpipe.media import VideoTarget

CLIPS = 20
CLIP_S = 10.0
TARGET = VideoTarget(1280, 720, 30)

SNIPPET = '''\
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Segment:
    """One clip of the final video, with where it comes from."""

    path: Path
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def plan(segments: list[Segment], gap_s: float = 0.5) -> list[tuple[float, Segment]]:
    """Place segments on a timeline, one after another, with a gap between them."""
    timeline, cursor = [], 0.0
    for segment in segments:
        timeline.append((cursor, segment))
        cursor += segment.duration_s + gap_s
    return timeline


def total_duration(timeline: list[tuple[float, Segment]]) -> float:
    if not timeline:
        return 0.0
    start, last = timeline[-1]
    return start + last.duration_s


if __name__ == "__main__":
    clips = [Segment(Path(f"clip{i}.mp4"), 0.0, 2.5 + i) for i in range(4)]
    timeline = plan(clips)
    for start, segment in timeline:
        print(f"{start:6.2f}s  {segment.path}  ({segment.duration_s:.1f}s)")
    print("total", total_duration(timeline))
'''


def _timed(label: str, action):
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s", flush=True)
    return elapsed, result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
        work = Path(tmp)
        print(f"ffmpeg: {media.ffmpeg_binary()}")
        _timed(
            f"generate {CLIPS} x {CLIP_S:g} s {TARGET.width}x{TARGET.height} clips (ultrafast)",
            lambda: [
                media.synthetic_clip(
                    work / f"clip{i:02d}.mp4",
                    duration_s=CLIP_S,
                    target=TARGET,
                    frequency=220 + 20 * i,
                    preset="ultrafast",
                )
                for i in range(CLIPS)
            ],
        )
        clips = sorted(work.glob("clip*.mp4"))
        copy_s, copied = _timed("merge by stream copy", lambda: media.merge(clips, work / "c.mp4"))
        assert copied.stream_copied
        encode_s, encoded = _timed(
            "merge by re-encode (normalise path)",
            lambda: media.merge(clips, work / "e.mp4", reencode=True),
        )
        assert not encoded.stream_copied
        print(f"ratio re-encode / copy: {encode_s / copy_s:.1f}x (goal >= 20x)")
        print(
            f"durations: copy {media.duration(copied.path):.2f} s, "
            f"re-encode {media.duration(encoded.path):.2f} s"
        )

        lines = SNIPPET.count("\n")
        code_s, video = _timed(
            f"render_code {lines} lines, {len(SNIPPET)} chars, 1920x1080 @ 30 fps, 30 cps",
            lambda: media.render_code(SNIPPET, work / "code.mp4", language="python"),
        )
        length = media.duration(video)
        print(f"render_code video length {length:.1f} s: {length / code_s:.1f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
