"""`generate-image`: a still image from a prompt (Replicate; a placeholder offline)."""

from __future__ import annotations

from tasks.live import client_for
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.preflight import aspect_ratio_for
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def prompt_of(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> str:
    """The prompt: the `prompt` input's text, else `config.prompt`."""
    if inputs.get("prompt"):
        return ctx.text(inputs["prompt"][0])
    return node.config.prompt


def aspect_of(node: NodeSpec, ctx: ExecContext) -> str:
    """The node's aspect ratio, else the pipeline's video shape as the nearest named one
    (the rule `vidpipe.preflight` checks against what the provider makes)."""
    return aspect_ratio_for(node, ctx.video)


def brand_colors(node: NodeSpec) -> tuple[str | None, str | None] | None:
    """The brand's (primary, secondary) colours the placeholder cards use, if any."""
    if node.brand is None:
        return None
    colours = node.brand.colors
    if colours.primary is None and colours.secondary is None:
        return None
    return colours.primary, colours.secondary


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """One image at the node's aspect ratio."""
    cfg = node.config
    out = ctx.out(".png")
    if ctx.provider != "placeholder":
        usage = client_for(ctx.provider).image(
            prompt_of(node, inputs, ctx),
            out,
            on_job=ctx.on_job,
            model=cfg.model,
            aspect_ratio=aspect_of(node, ctx),
            seed=cfg.seed,
            resume_job_id=ctx.resume_job_id,
        )
        return Output(out, "image", usage)
    usage = placeholder.image(
        prompt_of(node, inputs, ctx),
        out,
        aspect_ratio=aspect_of(node, ctx),
        seed=cfg.seed,
        size_hint=max(ctx.video.width, ctx.video.height),
        stands_in_for=cfg.provider,
        colors=brand_colors(node),
    )
    return Output(out, "image", usage)


task = node_task("generate-image", execute)
