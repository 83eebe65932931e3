"""`generate-talking-head`: a presenter speaking the given audio (HeyGen; a placeholder
offline)."""

from __future__ import annotations

from tasks.generate_image import aspect_of, brand_colors
from tasks.live import client_for
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """A clip as long as the audio, the avatar speaking it."""
    cfg = node.config
    background = inputs.get("background")
    out = ctx.out(".mp4")
    if ctx.provider != "placeholder":
        # A background is refused before the node runs (`vidpipe.preflight`): HeyGen is
        # not sent one by this version.
        usage = client_for(ctx.provider).talking_head(
            ctx.path(inputs["audio"][0]),  # a local file is uploaded as a HeyGen asset
            out,
            avatar_id=cfg.avatar_id,
            aspect_ratio=aspect_of(node, ctx),
            on_job=ctx.on_job,
            resume_job_id=ctx.resume_job_id,
        )
        return Output(out, "video", usage)
    usage = placeholder.talking_head(
        ctx.path(inputs["audio"][0]),
        out,
        avatar_id=cfg.avatar_id,
        target=ctx.target_for(cfg.aspect_ratio),
        text=node.title,
        background=ctx.path(background[0]) if background else None,
        stands_in_for=cfg.provider,
        colors=brand_colors(node),
    )
    return Output(out, "video", usage)


task = node_task("generate-talking-head", execute)
