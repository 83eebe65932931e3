"""The offline voice: eSpeak NG speech decoded back with FFmpeg, its word timing checked
against the sound itself, its determinism, odd text, other languages, threads, and the
alignment a placeholder voiceover node keeps beside its audio."""

from __future__ import annotations

import array
import hashlib
import math
import textwrap
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.captions import Alignment
from vidpipe.errors import SpecError, VidpipeError
from vidpipe.media import speech

SCRIPT = (
    "Hello, world. The offline voice reads this script aloud, and it knows when each word is said."
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _samples(path: Path) -> tuple[array.array, int]:
    """The audio decoded to 16-bit mono PCM by FFmpeg, and its sample rate."""
    out = path.with_name(f"{path.stem}.decoded.wav")
    media.run_ffmpeg(
        ["-i", str(path), "-ac", "1", "-c:a", "pcm_s16le", str(out)],
        operation="decode",
        output=out,
    )
    with wave.open(str(out), "rb") as fh:
        rate = fh.getframerate()
        data = array.array("h", fh.readframes(fh.getnframes()))
    return data, rate


def _rms(samples: array.array, rate: int, start_s: float, end_s: float) -> float:
    part = samples[int(start_s * rate) : int(end_s * rate)]
    return math.sqrt(sum(x * x for x in part) / len(part)) if part else 0.0


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Alignment]:
    out = tmp_path_factory.mktemp("speech") / "script.m4a"
    return out, speech.speak(SCRIPT, out, voice_id="narrator-1")


def test_speech_is_as_long_as_the_words_take(spoken):
    path, alignment = spoken
    info = media.probe(path)
    assert info.has_audio and not info.has_video
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 1)
    words_per_minute = len(SCRIPT.split()) / info.duration_s * 60
    assert 120 < words_per_minute < 260  # eSpeak's 175 a minute, with its pauses
    assert alignment.end_s <= info.duration_s + 0.02


def test_alignment_has_the_script_tokens_in_order_within_the_audio(spoken):
    path, alignment = spoken
    duration = media.duration(path)
    assert alignment.source == "espeak-ng"
    assert [w.text for w in alignment.words] == SCRIPT.split()
    for word, following in zip(alignment.words, alignment.words[1:], strict=False):
        assert 0 <= word.start_s <= word.end_s <= following.start_s
    assert alignment.words[-1].end_s <= duration + 0.02
    assert all(w.end_s > w.start_s for w in alignment.words)  # every word here is said


def test_words_are_timed_where_there_is_speech(spoken):
    """Inside each word's span the decoded audio is loud; in the pause after the first
    sentence it is silent."""
    path, alignment = spoken
    samples, rate = _samples(path)
    for word in alignment.words:
        assert _rms(samples, rate, word.start_s, word.end_s) > 1000, word
    world, the = alignment.words[1], alignment.words[2]
    assert the.start_s - world.end_s > 0.1, "a pause after the sentence"
    assert _rms(samples, rate, world.end_s + 0.03, the.start_s - 0.03) < 50


def test_same_text_voice_and_speed_give_the_same_bytes(tmp_path: Path):
    first = speech.speak("Meet the new dashboard.", tmp_path / "a.m4a", voice_id="v1")
    speech.speak("Something else in between.", tmp_path / "x.m4a", voice_id="de")
    again = speech.speak("Meet the new dashboard.", tmp_path / "b.m4a", voice_id="v1")
    speech.speak("Meet the new dashboard.", tmp_path / "c.m4a", voice_id="v2")
    faster = speech.speak("Meet the new dashboard.", tmp_path / "d.m4a", voice_id="v1", speed=2)
    assert _sha(tmp_path / "a.m4a") == _sha(tmp_path / "b.m4a") and first == again
    assert _sha(tmp_path / "a.m4a") != _sha(tmp_path / "c.m4a"), "voice ids sound different"
    assert faster.end_s < 0.7 * first.end_s


def test_voice_ids_naming_espeak_voices_pick_them(tmp_path: Path):
    known = speech.voices()
    assert {"en", "en-us", "de", "ar", "gmw/en-us", "english (america)"} <= set(known)
    speech.speak("Good morning.", tmp_path / "us.wav", voice_id="en-us")
    speech.speak("Good morning.", tmp_path / "US.wav", voice_id="EN-US")
    speech.speak("Good morning.", tmp_path / "gb.wav", voice_id="en-gb")
    assert _sha(tmp_path / "us.wav") == _sha(tmp_path / "US.wav")
    assert _sha(tmp_path / "us.wav") != _sha(tmp_path / "gb.wav")


def test_punctuation_and_numbers_keep_every_token(tmp_path: Path):
    text = 'He said: "1,234 dogs" — at 50% & $5, e.g. the U.S.A.! ... (really?)'
    alignment = speech.speak(text, tmp_path / "v.wav", voice_id="en")
    words = {w.text: w for w in alignment.words}
    assert [w.text for w in alignment.words] == text.split()
    starts = [w.start_s for w in alignment.words]
    assert starts == sorted(starts)
    assert words['"1,234'].end_s - words['"1,234'].start_s > 0.6  # said as four words
    dash = words["—"]  # not said: no time of its own, where the word before it ended
    assert dash.start_s == dash.end_s == words['dogs"'].end_s
    assert words["e.g."].end_s > words["e.g."].start_s  # said with a neighbour: shares


def test_hello_world_keeps_its_punctuation(tmp_path: Path):
    alignment = speech.speak("Hello, world.", tmp_path / "v.wav", voice_id="en")
    assert [w.text for w in alignment.words] == ["Hello,", "world."]


def test_arabic_with_the_ar_voice(tmp_path: Path):
    text = "مرحبا بالعالم. كيف حالك اليوم؟"
    alignment = speech.speak(text, tmp_path / "ar.m4a", voice_id="ar")
    assert [w.text for w in alignment.words] == text.split()
    starts = [w.start_s for w in alignment.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert media.mean_volume_db(tmp_path / "ar.m4a") > -40


@pytest.mark.parametrize("blank", ["", "   ", " \n\t "])
def test_blank_text_is_refused_clearly(tmp_path: Path, blank: str):
    with pytest.raises(speech.EmptyTextError) as info:
        speech.speak(blank, tmp_path / "v.m4a", voice_id="v1")
    assert isinstance(info.value, ValueError | SpecError | VidpipeError)
    assert "nothing to say" in str(info.value) and "empty or only whitespace" in str(info.value)
    assert not (tmp_path / "v.m4a").exists()


def test_two_threads_speaking_at_once_get_what_each_would_alone(tmp_path: Path):
    jobs = [
        ("The first thread reads this sentence.", "v1"),
        ("Der zweite Faden liest diesen Satz.", "de"),
    ]
    alone = [
        speech.speak(t, tmp_path / f"alone{i}.wav", voice_id=v) for i, (t, v) in enumerate(jobs)
    ]

    def speak(i: int) -> Alignment:
        text, voice = jobs[i % 2]
        return speech.speak(text, tmp_path / f"together{i}.wav", voice_id=voice)

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(speak, range(4)))
    for i, alignment in enumerate(together):
        assert alignment == alone[i % 2]
        assert _sha(tmp_path / f"together{i}.wav") == _sha(tmp_path / f"alone{i % 2}.wav")


def test_a_long_script_is_spoken_whole(tmp_path: Path):
    sentence = "Every run is recorded, priced and kept, so nothing is paid for twice."
    text = " ".join([sentence] * 250)  # 3,250 words, some twenty minutes of speech
    alignment = speech.speak(text, tmp_path / "long.wav", voice_id="v1")
    assert len(alignment.words) == 3250 and alignment.text == text
    duration = media.duration(tmp_path / "long.wav")
    assert 3250 / 260 * 60 < duration < 3250 / 120 * 60
    assert alignment.words[-1].start_s > 0.95 * duration - 5


def test_align_words_shares_time_between_tokens_without_events():
    """Pure: "the" said with "of" shares its time by length; a dash takes none and sits
    where the word before it ended; leading and trailing tokens stay."""
    text = "— of the voice — end."
    events = [(2, 1.0), (9, 2.0), (17, 3.0)]  # "of", "voice", "end."
    alignment = speech.align_words(text, events, duration_s=4.0)
    got = [(w.text, round(w.start_s, 3), round(w.end_s, 3)) for w in alignment.words]
    assert got == [
        ("—", 0.0, 0.0),
        ("of", 1.0, 1.39),
        ("the", 1.4, 1.99),
        ("voice", 2.0, 2.99),
        ("—", 2.99, 2.99),
        ("end.", 3.0, 4.0),
    ]
    quiet = speech.align_words("one two", [(0, 0.0), (4, 1.0)], duration_s=2.0,
                               sounding=[True] * 30 + [False] * 170, frame_s=0.01)  # fmt: skip
    assert [(w.start_s, w.end_s) for w in quiet.words] == [(0.0, 0.3), (1.0, 1.0)]


def test_a_placeholder_voiceover_node_keeps_its_alignment(vidpipe_home: Path, tmp_path: Path):
    """The voiceover node of a placeholder run (its task body, as the flow runs it):
    the stored audio carries an `alignment` sidecar whose words are the script's."""
    from tasks import asset, generate_voiceover
    from tasks.run_info import RunInfo, store_for
    from vidpipe import db
    from vidpipe.runs import open_run
    from vidpipe.settings import get_settings
    from vidpipe.spec import load_spec

    script = "Hello, world. Every word of this voiceover is timed."
    path = tmp_path / "voice.yaml"
    path.write_text(
        textwrap.dedent(f"""
        name: timed-voice
        mode: placeholder
        video: {{width: 160, height: 90, fps: 10}}
        nodes:
          - {{id: script, type: asset, asset: {{kind: text, text: "{script}"}}}}
          - id: voice
            type: generate-voiceover
            inputs: {{script: script}}
            config: {{provider: elevenlabs, voice_id: v1}}
        """)
    )
    spec = load_spec(path)
    settings = get_settings()
    engine = db.make_engine(settings.resolved_database_url)
    db.init_db(engine)
    run = open_run(engine, spec)
    info = RunInfo.for_spec(spec, settings, run_id=run.id, mode="placeholder")
    nodes = {n.id: n for n in spec.nodes}
    text = asset.task.fn(nodes["script"], {}, info)
    ref = generate_voiceover.task.fn(nodes["voice"], {"script": [text]}, info)
    recorded = db.get_node_run(engine, run.id, "voice")
    assert recorded.status == "completed" and "alignment" in recorded.output["sidecars"]
    timing = Alignment.from_json(store_for(info).open_text(ref.sidecars["alignment"]))
    assert timing.source == "espeak-ng"
    assert [w.text for w in timing.words] == script.split()
    assert timing.end_s <= ref.duration_s + 0.02
