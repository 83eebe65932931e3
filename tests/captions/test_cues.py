"""Cues from words, the subtitle files written from them, and what the bundled fonts can
draw: the rules of `vidpipe.captions.cues` case by case and as properties, WebVTT and
SRT round trips, ASS escaping and colours, and glyph coverage."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpipe.captions import (
    Alignment,
    Boundary,
    Cue,
    Word,
    ass_document,
    boundary,
    break_lines,
    caption_style,
    escape_text,
    fits,
    glyphs,
    make_cues,
    parse_srt,
    parse_vtt,
    to_srt,
    to_vtt,
)
from vidpipe.captions.ass import ass_colour, ass_time, override_colour
from vidpipe.captions.cues import PAUSE_S
from vidpipe.captions.subtitles import format_timestamp

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spoken(text: str, *, word_s: float = 0.3, gap_s: float = 0.05, start_s: float = 0.0):
    """Words said one after another, each `word_s` long with `gap_s` between them."""
    words, t = [], start_s
    for token in text.split():
        words.append(Word(token, t, t + word_s))
        t += word_s + gap_s
    return words


def laid(text: str, width: int, count: int) -> list[str]:
    return break_lines(text.split(), width, count)


def texts(cues: list[Cue]) -> list[str]:
    return [" / ".join(cue.lines) for cue in cues]


# --------------------------------------------------------------------------- breaking


def test_boundaries_are_read_from_the_last_mark():
    assert boundary("end.") == boundary("why?") == boundary("終わり。") == Boundary.SENTENCE
    assert boundary("لماذا؟") == boundary('"Stop!"') == boundary("(so.)") == Boundary.SENTENCE
    assert boundary("first,") == boundary("note:") == boundary("وأيضا،") == Boundary.CLAUSE
    assert boundary("word") == boundary("—word") == boundary("3.5") == Boundary.WORD


def test_a_cue_ends_at_a_sentence_end_rather_than_carrying_the_next_sentence_on():
    words = spoken(
        "Meet the new dashboard. It shows every run, every node and every cost at a glance."
    )
    cues = make_cues(words, max_chars_per_line=42, max_lines=2)
    assert texts(cues) == [
        "Meet the new dashboard.",
        "It shows every run, / every node and every cost at a glance.",
    ]


def test_a_cue_whose_lines_cannot_keep_its_sentences_apart_is_split_at_the_sentence():
    text = "Meet the new dashboard. It shows every run, every node and every cost."
    assert texts(make_cues(spoken(text))) == [  # one cue would need "... It shows / every"
        "Meet the new dashboard.",
        "It shows every run, / every node and every cost.",
    ]
    assert laid("Hi there. How are you?", 14, 2) == ["Hi there.", "How are you?"]
    assert fits(["Hi", "there.", "How", "are", "you?"], 14, 2)
    assert not fits(["Hi", "there.", "How", "are", "you?"], 14, 1)
    assert fits(["Supercalifragilisticexpialidocious"], 14, 1)  # a lone word always fits


def test_short_sentences_share_a_cue_one_per_line():
    cues = make_cues(spoken("Hi there. How are you today?"), max_chars_per_line=20)
    assert texts(cues) == ["Hi there. / How are you today?"]


def test_inside_a_long_sentence_cues_end_at_clause_marks():
    text = (
        "When the render finishes, the pipeline uploads the clip, tags it with the run id "
        "and sends the reviewers a link"
    )
    cues = make_cues(spoken(text), max_chars_per_line=30, max_lines=2)
    assert all(cue.lines[-1][-1] == "," for cue in cues[:-1]), texts(cues)
    assert " ".join(w.text for c in cues for w in c.words) == text


def test_without_marks_the_text_is_spread_evenly_never_leaving_one_word_behind():
    text = " ".join(f"w{i:02d}" for i in range(24))  # 24 words of 3 characters
    cues = make_cues(spoken(text), max_chars_per_line=20, max_lines=2)  # 10 words per cue
    sizes = [len(cue.words) for cue in cues]
    assert len(cues) == 3 and max(sizes) - min(sizes) <= 1, sizes


def test_a_word_longer_than_a_line_stands_alone_on_its_line():
    long = "Pneumonoultramicroscopicsilicovolcanoconiosis"
    cues = make_cues(spoken(f"It is called {long} by doctors."), max_chars_per_line=20)
    lines = [line for cue in cues for line in cue.lines]
    assert long in lines  # alone, not cut
    assert all(len(line) <= 20 for line in lines if line != long)


def test_lines_and_line_count_stay_within_the_limits():
    text = "one two three four five six seven eight nine ten eleven twelve thirteen"
    for width, count in ((10, 1), (12, 2), (16, 3)):
        for cue in make_cues(spoken(text), max_chars_per_line=width, max_lines=count):
            assert len(cue.lines) <= count
            assert all(len(line) <= width for line in cue.lines)


def test_lines_break_at_the_clause_and_stay_on_one_line_when_they_fit():
    assert laid("Well, that went better than expected", 30, 2) == [
        "Well,",
        "that went better than expected",
    ]
    assert laid("one two three four five six seven eight", 24, 2) == [
        "one two three four",
        "five six seven eight",
    ]  # no mark: balanced
    assert laid("We stopped, and then we left", 20, 2) == [
        "We stopped,",
        "and then we left",
    ]
    assert laid("Short and sweet.", 42, 2) == ["Short and sweet."]


def test_a_pause_in_speech_ends_the_cue():
    words = [*spoken("This is before"), *spoken("and after", start_s=1.0 + PAUSE_S + 0.2)]
    cues = make_cues(words)
    assert texts(cues) == ["This is before", "and after"]


def test_a_short_cue_lasts_the_minimum_duration_when_the_next_allows():
    words = [Word("Yes.", 0.0, 0.2), Word("Then", 3.0, 3.3), Word("more.", 3.3, 3.6)]
    cues = make_cues(words, min_duration_s=1.5)
    assert (cues[0].start_s, cues[0].end_s) == (0.0, 1.5)
    assert cues[1].end_s == pytest.approx(4.5)  # until_s not given: no end to respect


def test_the_reading_rate_stretches_a_cue_up_to_the_next_one_only():
    first = spoken("Supercalifragilistic expialidocious words.", word_s=0.1, gap_s=0.0)
    later = spoken("Next.", start_s=first[-1].end_s + PAUSE_S + 0.1)
    cues = make_cues([*first, *later], max_chars_per_second=10, min_duration_s=0.2)
    chars = cues[0].chars  # 42 characters want 4.2 s; the next cue starts before
    assert chars / 10 > cues[1].start_s
    assert cues[0].end_s == cues[1].start_s
    alone = make_cues(first, max_chars_per_second=10, min_duration_s=0.2)
    assert alone[0].duration_s == pytest.approx(chars / 10)


def test_the_last_cue_stops_at_until():
    cues = make_cues(spoken("Just this."), min_duration_s=3.0, until_s=1.2)
    assert cues[-1].end_s == 1.2
    spoken_end = spoken("Just this.")[-1].end_s
    assert make_cues(spoken("Just this."), until_s=0.1)[-1].end_s == spoken_end


def test_disordered_word_times_are_made_non_decreasing():
    words = [Word("a", 1.0, 1.5), Word("b", 0.5, 0.4), Word("c", 1.6, 1.8)]
    [cue] = make_cues(words)
    assert [(w.start_s, w.end_s) for w in cue.words] == [(1.0, 1.5), (1.0, 1.0), (1.6, 1.8)]


def test_no_words_no_cues():
    assert make_cues([]) == [] and make_cues(Alignment.estimated("", 3).words) == []


# --------------------------------------------------------------------------- properties

tokens = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzÉéمرحب日本"), min_size=1, max_size=12
).flatmap(lambda w: st.sampled_from([w, w + ".", w + ",", w + "?", w + ";", w + "—"]))
timed_words = st.lists(
    st.tuples(tokens, st.floats(0.0, 0.8), st.floats(0.0, 1.6)), min_size=0, max_size=60
)


def _words(items) -> list[Word]:
    words, t = [], 0.0
    for text, length, gap in items:
        words.append(Word(text, t, t + length))
        t += length + gap
    return words


@SETTINGS
@given(
    timed_words,
    st.integers(10, 40),
    st.integers(1, 3),
    st.floats(0.2, 3.0),
    st.floats(5, 30),
)
def test_cue_rules_hold_for_any_speech(items, width, count, min_s, cps):
    words = _words(items)
    until = (words[-1].end_s + 0.5) if words else None
    cues = make_cues(
        words,
        max_chars_per_line=width,
        max_lines=count,
        min_duration_s=min_s,
        max_chars_per_second=cps,
        until_s=until,
    )
    # Every word once, in order, never cut; the lines show exactly the cue's words.
    assert [w.text for c in cues for w in c.words] == [w.text for w in words]
    for cue in cues:
        assert " ".join(cue.lines).split() == [w.text for w in cue.words]
        assert 1 <= len(cue.lines) <= count
        for line in cue.lines:
            assert len(line) <= width or " " not in line  # only a lone word is longer
        gaps = [b.start_s - a.end_s for a, b in zip(cue.words, cue.words[1:], strict=False)]
        assert all(gap < PAUSE_S for gap in gaps)
    # Timing: from the first word, never overlapping, extended as far as allowed.
    for k, cue in enumerate(cues):
        assert cue.start_s == cue.words[0].start_s
        limit = cues[k + 1].start_s if k + 1 < len(cues) else until
        assert cue.start_s <= cue.end_s <= max(limit, cue.words[-1].end_s) + 1e-9
        if k + 1 < len(cues):
            assert cue.end_s <= cues[k + 1].start_s
        at_limit = cue.end_s >= limit - 1e-9
        assert cue.end_s >= min(cue.words[-1].end_s, limit) - 1e-9
        assert at_limit or cue.duration_s >= min_s - 1e-9
        assert at_limit or cue.chars / cue.duration_s <= cps + 1e-6


# --------------------------------------------------------------------------- VTT and SRT

line_text = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1)
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)
file_cues = st.lists(
    st.tuples(
        st.integers(0, 10**7), st.integers(0, 10**5), st.lists(line_text, min_size=1, max_size=3)
    ),
    max_size=8,
).map(lambda items: [Cue(s / 1000, (s + d) / 1000, tuple(lines)) for s, d, lines in items])


@SETTINGS
@given(file_cues)
def test_vtt_and_srt_read_back_what_they_wrote(cues):
    for write, read in ((to_vtt, parse_vtt), (to_srt, parse_srt)):
        back = read(write(cues))
        assert [(c.start_s, c.end_s, c.lines) for c in back] == [
            (pytest.approx(c.start_s, abs=1e-6), pytest.approx(c.end_s, abs=1e-6), c.lines)
            for c in cues
        ]


def test_the_file_formats_are_as_players_expect():
    cues = [Cue(1.5, 3.25, ("Fish & chips", "<b>not bold</b>")), Cue(3661.001, 3662, ("x",))]
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:01.500 --> 00:00:03.250\nFish &amp; chips\n&lt;b&gt;not bold&lt;/b&gt;\n\n"
        "01:01:01.001 --> 01:01:02.000\nx\n"
    )
    assert to_srt(cues) == (
        "1\n00:00:01,500 --> 00:00:03,250\nFish & chips\n<b>not bold</b>\n\n"
        "2\n01:01:01,001 --> 01:01:02,000\nx\n"
    )
    assert format_timestamp(-1) == "00:00:00.000"


def test_the_parsers_read_what_other_tools_write():
    vtt = (
        "\ufeffWEBVTT - made elsewhere\r\n\r\nNOTE a comment\r\n\r\nSTYLE\r\n::cue {}\r\n\r\n"
        "intro\r\n01:02.500 --> 01:04.000 align:start position:10%\r\nHello\r\n"
    )
    [cue] = parse_vtt(vtt)
    assert (cue.start_s, cue.end_s, cue.lines) == (62.5, 64.0, ("Hello",))
    with pytest.raises(Exception, match="WEBVTT"):
        parse_vtt("1\n00:00:01,000 --> 00:00:02,000\nHi\n")
    with pytest.raises(Exception, match="not a SRT cue"):
        parse_srt("1\nno timing here\n")


# --------------------------------------------------------------------------- ASS


def test_colours_are_written_blue_green_red():
    assert ass_colour("#FFD400") == "&H0000D4FF"
    assert ass_colour("#112233", alpha=0x80) == "&H80332211"
    assert override_colour("#FFD400") == "&H00D4FF&"
    with pytest.raises(ValueError):
        ass_colour("yellow")


def test_text_is_escaped_so_nothing_in_it_is_read_as_a_tag():
    assert escape_text("{\\b1}bold") == "\\{\\\u2060b1\\}bold"
    assert escape_text("C:\\New\\hat") == "C:\\\u2060New\\\u2060hat"
    assert escape_text("two\nlines\r\nthree") == "two\\Nlines\\Nthree"
    assert ass_time(3723.456) == "1:02:03.46" and ass_time(-2) == "0:00:00.00"


def _events(document: str) -> list[list[str]]:
    rows = [line for line in document.splitlines() if line.startswith("Dialogue:")]
    return [row.removeprefix("Dialogue: ").split(",", 9) for row in rows]


def test_the_style_follows_the_frame_and_the_look():
    style = caption_style(
        1080, 1920, font_family="DejaVu Sans Mono", bold=True, size_percent=5,
        color="#102030", outline_color="#000000", position="top",
    )  # fmt: skip
    document = ass_document([Cue(0, 1, ("Hi",))], width=1080, height=1920, style=style)
    assert "PlayResX: 1080\nPlayResY: 1920" in document
    [line] = [row for row in document.splitlines() if row.startswith("Style:")]
    fields = line.removeprefix("Style: ").split(",")
    assert fields[1:4] == ["DejaVu Sans Mono", "96", "&H00302010"]
    assert fields[7] == "-1" and fields[15] == "1"  # bold; BorderStyle 1 (outline)
    assert fields[18:22] == ["8", "54", "54", "96"]  # top centre; margins 5%
    for position, alignment in (("bottom", "2"), ("center", "5")):
        other = caption_style(
            320, 180, font_family="DejaVu Sans", size_percent=5, position=position
        )
        assert f",{alignment},16,16,9,-1" in ass_document([], width=320, height=180, style=other)


def test_word_highlight_is_one_event_per_word_following_the_speech():
    words = [Word("Hi", 0.0, 0.4), Word("{you}", 0.5, 0.9), Word("there.", 1.0, 1.4)]
    [cue] = make_cues(words, min_duration_s=2.0, max_chars_per_line=10)
    style = caption_style(320, 180, font_family="DejaVu Sans", size_percent=5)
    events = _events(ass_document([cue], width=320, height=180, style=style, highlight="word"))
    spans = [(e[1], e[2]) for e in events]
    assert spans == [
        ("0:00:00.00", "0:00:00.50"),
        ("0:00:00.50", "0:00:01.00"),
        ("0:00:01.00", "0:00:01.40"),
        ("0:00:01.40", "0:00:02.00"),  # said; shown plain until the cue ends
    ]
    on, off = "{\\c&H00D4FF&}", "{\\c&HFFFFFF&}"
    assert events[0][9] == f"{on}Hi{off} \\{{you\\}}\\Nthere."
    assert events[1][9] == f"Hi {on}\\{{you\\}}{off}\\Nthere."
    assert events[2][9] == f"Hi \\{{you\\}}\\N{on}there.{off}"
    assert events[3][9] == "Hi \\{you\\}\\Nthere."
    plain = _events(ass_document([cue], width=320, height=180, style=style))
    assert [(e[1], e[2], e[9]) for e in plain] == [("0:00:00.00", "0:00:02.00", events[3][9])]


@SETTINGS
@given(timed_words, st.sampled_from(["none", "word"]))
def test_ass_events_never_overlap_so_libass_never_stacks_them(items, highlight):
    cues = make_cues(_words(items), max_chars_per_line=20)
    style = caption_style(320, 180, font_family="DejaVu Sans", size_percent=5)
    document = ass_document(cues, width=320, height=180, style=style, highlight=highlight)
    spans = [(_centiseconds(e[1]), _centiseconds(e[2])) for e in _events(document)]
    assert all(start < end for start, end in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def _centiseconds(stamp: str) -> int:
    hours, minutes, seconds = stamp.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 100)


# --------------------------------------------------------------------------- glyphs


@pytest.mark.parametrize(
    ("font", "text", "missing"),
    [
        ("DejaVuSans", "Hello, wörld! Ça va? — “quoted” 3€", []),
        ("DejaVuSans", "مرحبا بالعالم، كيف حالك؟", []),
        ("DejaVuSans", "Привет, Ελληνικά, שלום", []),
        ("DejaVuSans", "日本語のテキスト", list("日本語のテキスト")),
        ("DejaVuSansMono", "שלום", list("שלום")),
        ("DejaVuSansMono-Bold", "plain ASCII {}[]\\", []),
    ],
)
def test_which_characters_a_font_cannot_draw(font, text, missing):
    assert glyphs.missing_glyphs(text, font) == list(dict.fromkeys(missing))


def test_spaces_format_characters_and_marks_are_not_checked():
    text = "a\u00a0b\u200bc\u2060d\u0301e\u200d\u064e\t\n"  # NBSP, ZWSP, WJ, marks, ZWJ
    assert glyphs.missing_glyphs(text, "DejaVuSansMono") == []


def test_japanese_is_refused_naming_the_node_the_font_and_what_it_cannot_draw():
    message = glyphs.coverage_refusal("日本語のテキストです", "DejaVuSans", "subs")
    assert message == (
        "captions 'subs': the font DejaVuSans cannot draw 日, 本, 語 and 7 more "
        "(Japanese text needs a font that covers it; no bundled font does)"
    )
    assert glyphs.coverage_refusal("Hello مرحبا", "DejaVuSans", "subs") is None
    hebrew = glyphs.coverage_refusal("שלום", "DejaVuSansMono", "subs")
    assert hebrew is not None and "use font: DejaVuSans" in hebrew


def test_script_names_are_what_people_call_them():
    assert glyphs.script_name(list("日本")) == "Chinese or Japanese"
    assert glyphs.script_name(list("日本の")) == "Japanese"
    assert glyphs.script_name(list("한국")) == "Korean"
    assert glyphs.script_name(list("ไทย")) == "Thai"
    assert glyphs.script_name(["\ue000"]) is None


def test_font_families_are_the_names_libass_matches():
    assert glyphs.font_family("DejaVuSans") == ("DejaVu Sans", False)
    assert glyphs.font_family("DejaVuSansMono-Bold") == ("DejaVu Sans Mono", True)
    with pytest.raises(ValueError, match="unknown caption font"):
        glyphs.font_file("Comic Sans")


def test_long_lines_shrink_the_font_to_fit_the_frame():
    line = "x" * 42
    assert glyphs.fitted_font_px([line], "DejaVuSans", 20, 1000) == 20
    shrunk = glyphs.fitted_font_px([line], "DejaVuSans", 96, 970)  # 9:16 at 1080 wide
    assert shrunk < 96
    assert glyphs.text_width(line, "DejaVuSans", shrunk) <= 970
    assert unicodedata.category("\u2060") == "Cf"  # the ASS escape's joiner is never checked
