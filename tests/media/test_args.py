"""The pure argument builders and helpers, compared as data (as ffmpeg-python's tests do)."""

from __future__ import annotations

import pytest

from vidpipe import media
from vidpipe.media import MediaInfo, VideoTarget


def _info(**changes) -> MediaInfo:
    base = dict(
        path="a.mp4",
        format="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=1.0,
        has_video=True,
        has_audio=True,
        video_codec="h264",
        video_profile="High",
        width=160,
        height=90,
        fps=25.0,
        pix_fmt="yuv420p",
        audio_codec="aac",
        sample_rate=48000,
        channels=2,
    )
    return MediaInfo(**{**base, **changes})


def test_ff_number_has_no_float_noise():
    assert media.ff_number(0.1 + 0.2) == "0.3"
    assert media.ff_number(2.0) == "2"
    assert media.ff_number(1 / 3) == "0.333"
    assert media.ff_number(-0.0001) == "0"


def test_video_target_validates():
    with pytest.raises(ValueError, match="even"):
        VideoTarget(161, 90, 25)
    with pytest.raises(ValueError, match="positive"):
        VideoTarget(160, 90, 0)


def test_concat_copy_args():
    assert media.build_concat_copy_args("list.txt", "out.mp4") == [
        "-f", "concat", "-safe", "0", "-i", "list.txt",
        "-c", "copy", "-fflags", "+bitexact", "-map", "0", "-movflags", "+faststart",
        "out.mp4",
    ]  # fmt: skip


def test_concat_list_escapes_quotes(tmp_path):
    odd = tmp_path / "it's here.mp4"
    text = media.concat_list_text([odd])
    assert text == f"file '{str(tmp_path)}/it'\\''s here.mp4'\n"


def test_normalize_args_fit_pad_and_add_silence_when_no_audio():
    args = media.build_normalize_args(
        "in.mp4", "out.mp4", VideoTarget(1280, 720, 30), duration_s=2.5, has_audio=False
    )
    assert args[:6] == ["-i", "in.mp4", "-f", "lavfi", "-t", "2.5"]
    assert args[6:8] == ["-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
    graph = args[args.index("-filter_complex") + 1]
    assert graph == (
        "[0:v]scale=1280:720:force_divisible_by=2:force_original_aspect_ratio=decrease"
        ":out_range=tv[s0];[s0]pad=1280:720:(ow-iw)/2:(oh-ih)/2[s1];[s1]setsar=1[s2];"
        "[s2]fps=fps=30[s3];[s3]format=yuv420p[s4]"
    )
    assert args[args.index("-map") + 1 : args.index("-map") + 4] == ["[s4]", "-map", "1:a"]
    for flag, value in [("-c:v", "libx264"), ("-c:a", "aac"), ("-ar", "48000"), ("-ac", "2"),
                        ("-t", "2.5"), ("-movflags", "+faststart")]:  # fmt: skip
        assert args[args.index(flag) + 1] == value
    assert args[-1] == "out.mp4"


def test_normalize_args_pad_existing_audio():
    args = media.build_normalize_args(
        "in.mp4", "out.mp4", VideoTarget(160, 90, 25), duration_s=1, has_audio=True
    )
    graph = args[args.index("-filter_complex") + 1]
    assert "[0:a]aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000" in graph
    assert "apad=whole_dur=1" in graph


def test_crossfade_offsets_follow_durations():
    args = media.build_crossfade_args(
        ["a.mp4", "b.mp4", "c.mp4"], [2.0, 3.0, 1.5], "out.mp4", transition_s=0.5
    )
    graph = args[args.index("-filter_complex") + 1]
    assert "xfade=duration=0.5:offset=1.5:transition=fade" in graph
    assert "xfade=duration=0.5:offset=4:transition=fade" in graph
    assert graph.count("acrossfade=d=0.5") == 2
    assert args[args.index("-t") + 1] == "5.5"  # 2 + 3 + 1.5 - 2 * 0.5


def test_mix_args_duck_uses_video_audio_as_sidechain():
    args = media.build_mix_args(
        "v.mp4", ["m.m4a"], "out.mp4", duration_s=4, video_has_audio=True, mode="duck"
    )
    graph = args[args.index("-filter_complex") + 1]
    assert "asplit=2" in graph and "sidechaincompress" in graph
    assert (
        graph.endswith("apad=whole_dur=4[s8];[s8]atrim=duration=4[s9]")
        or "atrim=duration=4" in graph
    )
    assert args[args.index("-c:v") + 1] == "copy"
    assert args[args.index("-map") : args.index("-map") + 2] == ["-map", "0:v"]


def test_mix_args_replace_ignores_video_audio_and_mixes_added_ones():
    args = media.build_mix_args(
        "v.mp4", ["a.m4a", "b.m4a"], "out.mp4", duration_s=2, video_has_audio=True,
        mode="replace", audio_volume=0.5, normalize_loudness=True,
    )  # fmt: skip
    graph = args[args.index("-filter_complex") + 1]
    assert "[0:a]" not in graph
    assert "amix=duration=longest:inputs=2:normalize=0" in graph
    assert "volume=0.5" in graph and "loudnorm=I=-16" in graph


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("bottom-right", (480, 270, 1280 - 480 - 24, 720 - 270 - 24)),
        ("top-left", (480, 270, 24, 24)),
        ("top-right", (480, 270, 1280 - 480 - 24, 24)),
        ("bottom-left", (480, 270, 24, 720 - 270 - 24)),
        ("center", (480, 270, 400, 225)),
    ],
)
def test_overlay_geometry_positions(position, expected):
    geometry = media.overlay_geometry(
        (1280, 720), (1920, 1080), position=position, scale=0.375, margin_px=24
    )
    assert geometry == expected


def test_overlay_geometry_stays_inside_the_frame():
    w, h, x, y = media.overlay_geometry((160, 90), (100, 400), scale=1.0, margin_px=500)
    assert h <= 90 and w <= 160
    assert x >= 0 and x + w <= 160 and y >= 0 and y + h <= 90


def test_compose_args_window_and_image_loop():
    args = media.build_compose_args(
        "bg.mp4", "logo.png", "out.mp4", geometry=(48, 26, 100, 50), duration_s=2, fps=25,
        overlay_is_image=True, background_has_audio=True, start_s=0.5, end_s=1.5,
    )  # fmt: skip
    assert args[2:10] == ["-framerate", "25", "-loop", "1", "-t", "2", "-i", "logo.png"]
    graph = args[args.index("-filter_complex") + 1]
    assert "overlay=enable=between(t\\,0.5\\,1.5):eof_action=repeat:x=100:y=50" in graph
    assert args[args.index("-c:a") + 1] == "copy"


def test_can_stream_copy():
    same = [_info(), _info(path="b.mp4", duration_s=3.0)]
    assert media.can_stream_copy(same)
    for change in [
        {"width": 320},
        {"fps": 30.0},
        {"pix_fmt": "yuv444p"},
        {"video_profile": "Constrained Baseline"},
        {"has_audio": False, "audio_codec": None, "sample_rate": None, "channels": None},
        {"sample_rate": 44100},
        {"channels": 1},
    ]:
        assert not media.can_stream_copy([_info(), _info(**change)]), change
