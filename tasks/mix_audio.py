"""`mix-audio`: replace, mix or duck audio under a video's soundtrack."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The video with its soundtrack changed; as long as the video."""
    cfg = node.config
    out = ctx.out(".mp4")
    media.mix_audio(
        ctx.path(inputs["video"][0]),
        [ctx.path(ref) for ref in inputs["audio"]],
        out,
        mode=cfg.mode,
        audio_volume=cfg.audio_volume,
        video_volume=cfg.video_volume,
        normalize_loudness=cfg.normalize_loudness,
    )
    return Output(out, "video")


task = node_task("mix-audio", execute)
