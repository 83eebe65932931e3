"""Engine fixtures: the session's Prefect harness, a fresh vidpipe home per test with its
own Prefect result folder (the cache index), a helper that runs a pipeline text, and
local fakes of the four providers for live runs."""

from __future__ import annotations

import contextlib
import functools
import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from providers.fakes import FakeElevenLabs, FakeHeyGen, FakeReplicate, FakeVeo, provider_env

from vidpipe import db
from vidpipe.media import VideoTarget, run_ffmpeg, synthetic_clip
from vidpipe.settings import get_settings


@pytest.fixture
def home(prefect_harness, vidpipe_home: Path) -> Path:
    """A fresh vidpipe home whose Prefect results (the cache) live inside it."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: vidpipe_home / "results"}):
        yield vidpipe_home


@pytest.fixture
def walks(monkeypatch) -> list[str]:
    """The paths `os.path.realpath` walks from now on (what `Path.resolve` calls)."""
    import os.path

    walked: list[str] = []
    original = os.path.realpath

    def realpath(name, *args, **kwargs):
        walked.append(str(name))
        return original(name, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", realpath)
    return walked


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a pipeline file (dedented YAML) into the test's folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def run_file(home: Path) -> Callable[..., dict[str, Any]]:
    """Run a pipeline file through the flow; returns the run's `show --json` document."""
    from flows.pipeline import in_process, run_pipeline
    from vidpipe.cli import show_document
    from vidpipe.errors import VidpipeError
    from vidpipe.runs import for_run, open_run
    from vidpipe.settings import get_settings
    from vidpipe.spec import load_spec

    def run(path: Path, **params: Any) -> dict[str, Any]:
        params.setdefault("approve", "auto")
        engine = db.make_engine(get_settings().resolved_database_url)
        db.init_db(engine)
        run_id = open_run(engine, load_spec(path), refresh=params.get("refresh") or ()).id
        with contextlib.suppress(VidpipeError), in_process(), for_run(run_id):  # inspected
            run_pipeline(pipeline=str(path), **params)
        return show_document(engine, run_id)

    return run


@functools.cache
def _real_media(name: str, folder: str) -> bytes:
    """Real media for a fake's file name, by its extension (made once per session)."""
    out = Path(folder) / f"media{Path(name).suffix}"
    if out.suffix == ".mp3":
        run_ffmpeg(
            ["-f", "lavfi", "-i", "sine=frequency=300:duration=6", "-c:a", "libmp3lame", str(out)],
            operation="fake mp3",
            output=out,
        )
    elif out.suffix == ".png":
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (160, 90), (200, 40, 40)).save(buffer, format="PNG")
        return buffer.getvalue()
    else:
        synthetic_clip(out, duration_s=2.0, target=VideoTarget(160, 90, 10))
    return out.read_bytes()


@pytest.fixture
def fakes(home, tmp_path_factory, monkeypatch):
    folder = str(tmp_path_factory.mktemp("fake-media"))
    servers = {
        "elevenlabs": FakeElevenLabs(),
        "heygen": FakeHeyGen(polls_to_finish=1),
        "replicate": FakeReplicate(polls_to_finish=1),
        "veo3": FakeVeo(polls_to_finish=1),
    }
    for fake in servers.values():
        fake.make_media = lambda name, size: _real_media(name, folder)
        fake.start()
    from vidpipe.providers import heygen

    heygen._uploads.clear()  # uploads are remembered per process; ports get reused
    for key, value in provider_env(servers).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield servers
    for fake in servers.values():
        fake.stop()
    get_settings.cache_clear()
