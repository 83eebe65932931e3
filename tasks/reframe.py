"""`reframe`: a variant's visual reshaped from the first variant's (crop, pad or blur)."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """The source at the node's own video size: a still stays a still (PNG), a video a
    video at the node's frame rate with its audio."""
    source = inputs["source"][0]
    kind = "image" if source.kind == "image" else "video"
    out = ctx.out(".png" if kind == "image" else ".mp4")
    media.reframe(ctx.path(source), out, target=ctx.target, mode=node.config.mode)
    return Output(out, kind)


task = node_task("reframe", execute)
