"""`render-code`: a code screencast, highlighted code typed out and then held."""

from __future__ import annotations

from tasks.runtime import ExecContext, Output, node_task
from vidpipe import media
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Type the code (the `code` input, else `config.code`) at `chars_per_second`."""
    cfg = node.config
    code = ctx.text(inputs["code"][0]) if inputs.get("code") else cfg.code
    out = ctx.out(".mp4")
    media.render_code(
        code,
        out,
        language=cfg.language,
        theme=cfg.theme,
        chars_per_second=cfg.chars_per_second,
        hold_s=cfg.hold_s,
        size=(ctx.target.width, ctx.target.height),
        fps=ctx.target.fps,
    )
    return Output(out, "video")


task = node_task("render-code", execute)
