"""`captions`: subtitles burned into a video, timed by its voiceover; WebVTT and SRT
files of the same cues kept beside it (`sidecars["vtt"]`, `sidecars["srt"]`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import captions, media
from vidpipe.captions import glyphs
from vidpipe.captions.ass import DEFAULT_COLOR, DEFAULT_HIGHLIGHT_COLOR, DEFAULT_OUTLINE_COLOR
from vidpipe.errors import SpecError
from vidpipe.media import VideoTarget
from vidpipe.preflight import caption_font
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def _timing(
    node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext, video_s: float
) -> tuple[captions.Alignment, float]:
    """The words to show with their times, and where the last cue may last until: the
    voiceover's word timing (its `alignment` sidecar) and its end, or the script's words
    spread over the video."""
    if inputs.get("audio"):
        audio = inputs["audio"][0]
        timing = audio.sidecars.get("alignment")
        if timing is None:
            raise SpecError(
                f"captions '{node.id}': its audio has no word timing (an audio file, such "
                "as an asset's, has none): wire a generate-voiceover node to `audio`, or "
                "give the text as `script`"
            )
        until = min(audio.duration_s or video_s, video_s)
        return captions.Alignment.from_json(ctx.text(timing)), until
    return captions.Alignment.estimated(ctx.text(inputs["script"][0]), video_s), video_s


def _style(node: NodeSpec, font: str, target: VideoTarget, lines: list[str]) -> captions.AssStyle:
    """The node's look (its config, else its brand kit's, else the defaults), with the
    font shrunk where the widest line would not fit between the margins."""
    cfg = node.config
    kit = node.brand.captions if node.brand else None

    def colour(name: str, default: str) -> str:
        return getattr(cfg, name) or (kit and getattr(kit, name)) or default

    family, bold = glyphs.font_family(font)
    style = captions.caption_style(
        target.width,
        target.height,
        font_family=family,
        bold=bold,
        size_percent=cfg.size,
        color=colour("color", DEFAULT_COLOR),
        outline_color=colour("outline_color", DEFAULT_OUTLINE_COLOR),
        highlight_color=colour("highlight_color", DEFAULT_HIGHLIGHT_COLOR),
        position=cfg.position,
    )
    room = target.width - 2 * (style.margin_x_px + style.outline_px)
    font_px = glyphs.fitted_font_px(lines, font, style.font_px, room)
    if font_px == style.font_px:
        return style
    return replace(style, font_px=font_px, outline_px=max(1.0, round(font_px / 10, 1)))


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Cue the words (the voiceover's timing, else the script spread over the video),
    write them as WebVTT, SRT and ASS, and burn the ASS into the video."""
    cfg = node.config
    video_ref = inputs["video"][0]
    video = ctx.path(video_ref)
    video_s = video_ref.duration_s or media.probe(video).duration_s or 0.0
    alignment, until = _timing(node, inputs, ctx, video_s)
    font = caption_font(node)
    refusal = glyphs.coverage_refusal(alignment.text, font, node.id)
    if refusal:
        raise SpecError(refusal)
    cues = captions.make_cues(
        alignment.words,
        max_chars_per_line=cfg.max_chars_per_line,
        max_lines=cfg.max_lines,
        min_duration_s=cfg.min_duration_s,
        max_chars_per_second=cfg.max_chars_per_second,
        until_s=until,
    )
    target = ctx.target
    style = _style(node, font, target, [line for cue in cues for line in cue.lines])
    document = captions.ass_document(
        cues, width=target.width, height=target.height, style=style, highlight=cfg.highlight
    )
    vtt = _write(ctx.out(".vtt"), captions.to_vtt(cues))
    srt = _write(ctx.out(".srt"), captions.to_srt(cues))
    ass = _write(ctx.out(".ass"), document)
    out = ctx.out(".mp4")
    media.burn_subtitles(video, ass, out, target=target)
    return Output(out, "video", sidecars={"vtt": vtt, "srt": srt})


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


task = node_task("captions", execute)
