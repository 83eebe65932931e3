"""`generate-talking-head`: a presenter speaking the given audio (HeyGen; a placeholder
offline)."""

from __future__ import annotations

from tasks.live import require_live
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """A clip as long as the audio, the avatar speaking it."""
    cfg = node.config
    if ctx.provider != "placeholder":
        require_live(node, ctx.provider)
    background = inputs.get("background")
    out = ctx.out(".mp4")
    usage = placeholder.talking_head(
        ctx.path(inputs["audio"][0]),
        out,
        avatar_id=cfg.avatar_id,
        target=ctx.target_for(cfg.aspect_ratio),
        text=node.title,
        background=ctx.path(background[0]) if background else None,
        stands_in_for=cfg.provider,
    )
    return Output(out, "video", usage)


task = node_task("generate-talking-head", execute)
