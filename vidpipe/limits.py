"""The sizes vidpipe refuses, in one place (the README's "Limits" lists them).

A pipeline file is input from people and from other programs: without caps, one line of
YAML can ask for hours of media (a 1 MB script read aloud is 80,000 s of audio) and keep
a worker busy for as long. Each cap is checked before a run starts where the file shows
it (`vidpipe.preflight`, so `validate` and `plan` report it) and again by each node with
its real inputs (a script read from a file, a downloaded asset).
"""

from __future__ import annotations

__all__ = [
    "MAX_NODES",
    "MAX_SCRIPT_CHARS",
    "MAX_CODE_CHARS",
    "MAX_MEDIA_S",
    "MAX_DOWNLOAD_BYTES",
    "render_code_seconds",
]

#: Nodes in one pipeline file.
MAX_NODES = 2_000
#: Characters of one voiceover script: about 50 minutes of speech. ElevenLabs' own limit
#: per request is lower for most models (eleven_multilingual_v2: 10,000); the live client
#: splits a longer script into requests at sentence ends.
MAX_SCRIPT_CHARS = 40_000
#: Characters of code one render-code node types out.
MAX_CODE_CHARS = 20_000
#: Seconds of media one node may take in or make (an asset, a merge's segments together,
#: a screencast).
MAX_MEDIA_S = 3_600.0
#: Bytes of one asset downloaded from a URL.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


def render_code_seconds(code: str, chars_per_second: float, hold_s: float) -> float:
    """How long a screencast of `code` typed at `chars_per_second` lasts, with its hold."""
    return len(code) / chars_per_second + hold_s
