"""One Prefect task per node type, each in its own module; `TASKS` maps type -> task.

`approval` has no Prefect task: only a flow run can pause, so the flow decides a gate with
`tasks.approval.decide_gate`.
"""

from __future__ import annotations

from prefect import Task

from tasks import (
    apply_brand,
    asset,
    captions,
    compose_video,
    generate_animation,
    generate_image,
    generate_talking_head,
    generate_voiceover,
    merge_videos,
    mix_audio,
    reframe,
    render_code,
)

__all__ = ["TASKS"]

TASKS: dict[str, Task] = {
    module.task.name: module.task
    for module in (
        asset,
        generate_voiceover,
        generate_talking_head,
        generate_image,
        generate_animation,
        render_code,
        mix_audio,
        merge_videos,
        compose_video,
        captions,
        reframe,
        apply_brand,
    )
}
