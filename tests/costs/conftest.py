"""Shared fixtures for the money tests: the packaged price book and the example plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe.costs import PriceBook
from vidpipe.plan import Plan, build_plan
from vidpipe.spec import load_file, load_text


@pytest.fixture(scope="session")
def book() -> PriceBook:
    return PriceBook.load()


def _plan(source: str | Path) -> Plan:
    result = load_file(source) if isinstance(source, Path) else load_text(source)
    assert result.valid, result.problems
    return build_plan(result.spec)


@pytest.fixture
def make_plan():
    """A plan from a pipeline file (Path) or its text (str)."""
    return _plan


#: A mixed pipeline: every generative type, a script asset, local work.
MIXED = """
name: mixed
mode: live
video: {width: 1280, height: 720, fps: 30}
budget: {max_usd: 5}
nodes:
  - id: script
    type: asset
    asset: {kind: text, text: "one two three four five six seven eight nine ten"}
  - id: voice
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1, model_id: eleven_flash_v2_5}
  - id: host
    type: generate-talking-head
    inputs: {audio: voice}
    config: {provider: heygen, avatar_id: a1}
  - id: still
    type: generate-image
    config: {provider: replicate, prompt: a cat}
  - id: clip
    type: generate-animation
    inputs: {image: still}
    config: {provider: veo3, model: veo-3.1-fast-generate-001, prompt: the cat moves, duration_s: 8}
  - id: cut
    type: merge-videos
    inputs: {segments: [host, clip]}
"""


@pytest.fixture
def mixed_plan() -> Plan:
    return _plan(MIXED)
