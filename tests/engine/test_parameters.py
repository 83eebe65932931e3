"""What the operator's run forms are made of: the flows' parameter schemas, the pipelines
folder's dropdown, the deployments' enforcement, and how the flow reads the form's values.

The form itself, filled with the mouse in a real browser against a real Prefect server,
is tested in tests/integration/test_review_ui.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.parameters import FROM_FILE, mode_or_none, pipeline_schema

TINY = """
name: tiny-form-2
mode: placeholder
video: {width: 160, height: 90, fps: 10}
budget: {max_usd: 3}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
"""


def _properties(flow) -> dict:
    return flow.parameters.model_dump_for_openapi()["properties"]


def test_the_run_pipeline_form_shows_only_what_an_operator_chooses() -> None:
    from flows.pipeline import run_pipeline

    form = _properties(run_pipeline)
    assert list(form) == ["pipeline", "mode", "budget_usd", "refresh", "approve"]
    assert not [name for name, field in form.items() if "anyOf" in field], form
    assert form["mode"]["enum"] == [FROM_FILE, "placeholder", "live"]
    assert form["mode"]["default"] == FROM_FILE
    assert form["approve"] == {**form["approve"], "enum": ["wait", "auto"], "default": "wait"}
    assert form["refresh"]["type"] == "array" and form["refresh"]["default"] == []
    assert form["budget_usd"]["type"] == "number" and form["budget_usd"]["minimum"] == 0
    assert all(field.get("description") for field in form.values()), form
    # The repository's examples, as `vidpipe serve` and `prefect deploy` list them.
    assert form["pipeline"]["enum"] == ["explainer", "launch-teaser", "product-reel", "social-cut"]


def test_the_nightly_form_has_no_type_switches() -> None:
    from flows.nightly import nightly_batch

    form = _properties(nightly_batch)
    assert not [name for name, field in form.items() if "anyOf" in field], form
    assert form["folder"]["type"] == "string"
    assert form["mode"]["default"] == FROM_FILE


def test_the_pipeline_dropdown_lists_the_folder_or_falls_back_to_text(tmp_path: Path) -> None:
    folder = tmp_path / "my pipelines"
    folder.mkdir()
    assert pipeline_schema(folder) == {"type": "string"}  # an empty folder
    assert pipeline_schema(tmp_path / "missing") == {"type": "string"}
    for name in ("daily_2.yaml", "a-1.yml", "x9.json", "notes.txt"):
        (folder / name).write_text("name: x\n")
    (folder / "sub.yaml").mkdir()
    assert pipeline_schema(folder) == {"type": "string", "enum": ["a-1", "daily_2", "x9"]}


def test_mode_from_the_form_means_the_files_own() -> None:
    assert mode_or_none(FROM_FILE) is None and mode_or_none(None) is None
    assert mode_or_none("live") == "live"


def test_served_run_pipeline_takes_paths_from_the_api_others_are_enforced() -> None:
    from deployments import to_runner_deployments

    made = {d.name: d for d in to_runner_deployments()}
    assert made["run-pipeline"].enforce_parameter_schema is False
    assert "run_id" not in made["run-pipeline"]._parameter_openapi_schema.properties
    others = [d for name, d in made.items() if name != "run-pipeline"]
    assert others and all(d.enforce_parameter_schema for d in others)


def test_a_run_with_the_forms_defaults_follows_the_file(home: Path, write_pipeline) -> None:
    from flows.pipeline import in_process, run_pipeline
    from vidpipe import db
    from vidpipe.settings import get_settings

    path = write_pipeline("tiny_form_2", TINY)
    with in_process():  # as a served run: no run opened beforehand
        result = run_pipeline(
            pipeline=str(path), mode=FROM_FILE, budget_usd=None, refresh=[], approve="wait"
        )
    assert result["status"] == "completed"
    run = db.get_run(db.make_engine(get_settings().resolved_database_url), result["run_id"])
    assert (run.mode, run.budget_usd, run.status) == ("placeholder", 3.0, "completed")


def test_a_value_outside_the_form_is_refused_in_one_line(home: Path, write_pipeline) -> None:
    from prefect.exceptions import ParameterTypeError

    from flows.pipeline import in_process, run_pipeline

    path = write_pipeline("tiny_form_2", TINY)
    with in_process(), pytest.raises(ParameterTypeError, match="mode"):
        run_pipeline(pipeline=str(path), mode="paid")


def test_a_default_the_dropdown_does_not_offer_is_left_for_the_operator() -> None:
    from deployments import form_defaults
    from flows.pipeline import run_pipeline

    assert form_defaults(run_pipeline, {"pipeline": "explainer"}) == {"pipeline": "explainer"}
    assert form_defaults(run_pipeline, {"pipeline": "gone_2", "mode": "live"}) == {"mode": "live"}
