"""`generate-animation`: a short clip from a prompt and an optional image (Veo 3,
Replicate; a placeholder offline)."""

from __future__ import annotations

from pathlib import Path

from tasks.generate_image import aspect_of, brand_colors, prompt_of
from tasks.live import client_for
from tasks.runtime import ExecContext, Output, node_task
from vidpipe.providers import placeholder
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """`duration_s` seconds of motion, starting from the `image` input if given."""
    cfg = node.config
    image = inputs.get("image")
    out = ctx.out(".mp4")
    if ctx.provider == "veo3":
        usage = client_for("veo3").animation(
            prompt_of(node, inputs, ctx),
            out,
            duration_s=cfg.duration_s,
            on_job=ctx.on_job,
            aspect_ratio=aspect_of(node, ctx),
            negative_prompt=cfg.negative_prompt,
            image_path=ctx.path(image[0]) if image else None,
            seed=cfg.seed,
            resume_job_id=ctx.resume_job_id,
            **({"model": cfg.model} if cfg.model else {}),
        )
        return Output(out, "video", usage)
    if ctx.provider == "replicate":
        usage = client_for("replicate").animation(
            prompt_of(node, inputs, ctx),
            out,
            on_job=ctx.on_job,
            duration_s=cfg.duration_s,
            aspect_ratio=aspect_of(node, ctx),
            negative_prompt=cfg.negative_prompt,
            image=_fetchable(image[0], ctx) if image else None,
            seed=cfg.seed,
            resume_job_id=ctx.resume_job_id,
            **({"model": cfg.model} if cfg.model else {}),
        )
        return Output(out, "video", usage)
    usage = placeholder.animation(
        prompt_of(node, inputs, ctx),
        out,
        duration_s=cfg.duration_s,
        target=ctx.target_for(aspect_of(node, ctx)),
        image=ctx.path(image[0]) if image else None,
        seed=cfg.seed,
        stands_in_for=cfg.provider,
        colors=brand_colors(node),
    )
    return Output(out, "video", usage)


def _fetchable(ref: MediaRef, ctx: ExecContext) -> str | Path:
    """An input for a provider that reads URLs: a presigned URL where the media store can
    hand one out (S3; the key keeps the file's extension), else the local file (which the
    client sends inline)."""
    presign = getattr(ctx.store, "presigned_url", None)
    if presign is not None and ref.uri.startswith("s3://"):
        return presign(ref)
    return ctx.path(ref)


task = node_task("generate-animation", execute)
