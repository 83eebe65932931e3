"""`generate-voiceover`: speech from a script (ElevenLabs; a placeholder offline)."""

from __future__ import annotations

from tasks.live import require_live
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Speak the script (the `script` input, else `config.text`)."""
    cfg = node.config
    text = ctx.text(inputs["script"][0]) if inputs.get("script") else cfg.text
    if ctx.provider != "placeholder":
        require_live(node, ctx.provider)
    out = ctx.out(".m4a")
    usage = placeholder.voiceover(
        text, out, voice_id=cfg.voice_id, speed=cfg.speed, stands_in_for=cfg.provider
    )
    return Output(out, "audio", usage)


task = node_task("generate-voiceover", execute)
