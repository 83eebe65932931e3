"""`apply-brand`: the brand kit on a finished video: intro and outro around it, the logo
over all of it."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, input_error, node_task
from vidpipe import limits, media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The video at the node's own video size, between the `intro` and `outro` inputs if
    wired, with the `logo` input (if wired) on every frame."""
    cfg = node.config
    clips = [inputs[slot][0] for slot in ("intro", "video", "outro") if inputs.get(slot)]
    total = sum(ref.duration_s or 0.0 for ref in clips)
    if total > limits.MAX_MEDIA_S:
        raise input_error(
            node,
            f"intro, video and outro last {total:,.0f} s together; at most "
            f"{limits.MAX_MEDIA_S:,.0f} s of video",
        )

    def local(slot: str):
        refs = inputs.get(slot)
        return ctx.path(refs[0]) if refs else None

    out = ctx.out(".mp4")
    media.apply_brand(
        ctx.path(inputs["video"][0]),
        out,
        target=ctx.target,
        logo=local("logo"),
        position=cfg.position,
        scale=cfg.scale,
        margin_px=cfg.margin_px,
        intro=local("intro"),
        outro=local("outro"),
    )
    return Output(out, "video")


task = node_task("apply-brand", execute)
