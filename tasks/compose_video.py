"""`compose-video`: picture-in-picture, an overlay video or image over a background video."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The background with the overlay in a corner (or the centre), kept inside the frame."""
    cfg = node.config
    out = ctx.out(".mp4")
    media.compose(
        ctx.path(inputs["background"][0]),
        ctx.path(inputs["overlay"][0]),
        out,
        position=cfg.position,
        scale=cfg.scale,
        margin_px=cfg.margin_px,
        start_s=cfg.start_s,
        end_s=cfg.end_s,
    )
    return Output(out, "video")


task = node_task("compose-video", execute)
