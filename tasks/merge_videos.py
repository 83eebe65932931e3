"""`merge-videos`: joins clips in order; by stream copy when they all match."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, input_error, node_task
from vidpipe import limits, media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The segments one after another, normalised to the pipeline's video when they differ."""
    cfg = node.config
    total = sum(ref.duration_s or 0.0 for ref in inputs["segments"])
    if total > limits.MAX_MEDIA_S:
        raise input_error(
            node,
            f"the segments last {total:,.0f} s together; at most {limits.MAX_MEDIA_S:,.0f} s "
            "of video in one merge",
        )
    out = ctx.out(".mp4")
    media.merge(
        [ctx.path(ref) for ref in inputs["segments"]],
        out,
        transition=cfg.transition,
        transition_s=cfg.transition_s,
        target=ctx.target,
    )
    return Output(out, "video")


task = node_task("merge-videos", execute)
