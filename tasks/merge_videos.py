"""`merge-videos`: joins clips in order; by stream copy when they all match."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The segments one after another, normalised to the pipeline's video when they differ."""
    cfg = node.config
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
