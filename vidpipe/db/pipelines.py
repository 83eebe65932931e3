"""Pipelines: a submitted pipeline file and its declared nodes, one row per name and content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from vidpipe.errors import SpecError

from .engine import _reader, session_scope
from .tables import NodeRow, Pipeline, _canonical_json


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of the spec's canonical JSON: key order and whitespace do not matter."""
    return hashlib.sha256(_canonical_json(spec).encode()).hexdigest()


_NODE_STRUCTURE = frozenset({"id", "type", "inputs", "after", "config", "title"})


def _node_rows(pipeline_id: str, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A `nodes` row per declared node, as column values for one INSERT; type-specific
    top-level keys (e.g. `asset`) go to config."""
    rows = []
    for index, node in enumerate(spec.get("nodes") or []):
        if not isinstance(node, Mapping) or "id" not in node or "type" not in node:
            raise SpecError(f"nodes[{index}]: a node needs an 'id' and a 'type'")
        config = dict(node.get("config") or {})
        config.update({k: v for k, v in node.items() if k not in _NODE_STRUCTURE})
        rows.append(
            {
                "pipeline_id": pipeline_id,
                "node_id": str(node["id"]),
                "type": str(node["type"]),
                "config": config,
                "inputs": dict(node.get("inputs") or {}),
                "after": list(node.get("after") or []),
            }
        )
    return rows


def upsert_pipeline(engine: Engine, name: str, spec: Mapping[str, Any]) -> Pipeline:
    """The Pipeline row for this name and content, created (with its nodes) on first sight.

    Two processes submitting the same file at once both end up with the one row: the
    loser of the insert race reads the winner's.
    """
    try:
        content = json.loads(_canonical_json(spec))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"pipeline {name!r}: the spec is not JSON-serialisable: {exc}") from None
    digest = spec_digest(content)
    existing = _find_pipeline(engine, name, digest)
    if existing is not None:
        return existing
    pipeline = Pipeline(name=name, spec=content, spec_digest=digest)
    nodes = _node_rows(pipeline.id, content)
    try:
        with session_scope(engine) as session:
            session.add(pipeline)
            session.flush()  # the parent row first: foreign keys are enforced
            if nodes:  # one INSERT: node objects cost more than the rows
                session.execute(insert(NodeRow.__table__), nodes)  # type: ignore[attr-defined]
    except IntegrityError:
        existing = _find_pipeline(engine, name, digest)
        if existing is None:
            raise
        return existing
    return pipeline


def _find_pipeline(engine: Engine, name: str, digest: str) -> Pipeline | None:
    with session_scope(_reader(engine)) as session:
        query = select(Pipeline).where(Pipeline.name == name, Pipeline.spec_digest == digest)
        return session.exec(query).first()  # type: ignore[call-overload]
