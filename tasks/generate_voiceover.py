"""`generate-voiceover`: speech from a script (ElevenLabs; eSpeak NG offline), with its
word timing kept beside the audio (the `alignment` sidecar, JSON)."""

from __future__ import annotations

from tasks.live import client_for
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.preflight import VOICEOVER_SUFFIX
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Speak the script (the `script` input, else `config.text`)."""
    cfg = node.config
    text = ctx.text(inputs["script"][0]) if inputs.get("script") else cfg.text
    out = ctx.out(VOICEOVER_SUFFIX[ctx.provider])  # what preflight expects it to make
    if ctx.provider == "placeholder":
        usage, alignment = placeholder.voiceover(
            text, out, voice_id=cfg.voice_id, speed=cfg.speed, stands_in_for=cfg.provider
        )
    else:
        usage, alignment = client_for(ctx.provider).voiceover(
            text,
            out,
            voice_id=cfg.voice_id,
            model_id=cfg.model_id,
            stability=cfg.stability,
            similarity_boost=cfg.similarity_boost,
            speed=cfg.speed,
        )
    timing = ctx.out(".alignment.json")
    timing.write_text(alignment.to_json(), encoding="utf-8")
    return Output(out, "audio", usage, sidecars={"alignment": timing})


task = node_task("generate-voiceover", execute)
