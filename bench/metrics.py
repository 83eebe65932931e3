"""Time a Prometheus scrape of `/metrics` on a home with 10,000 runs.

    .venv/bin/python bench/metrics.py [--runs 10000] [--repeat 5] [--database-url URL]

Builds the database in a temp folder (SQLite unless a URL is given): runs of ten
pipelines over 30 days, mostly completed, some failed, cancelled, rejected, running or
waiting for approval; six node runs each (a third of them cache hits), billed, savings
and reservation lines, approval decisions, failed provider calls and call counts per
hour, and a few alerts. Then serves `/metrics` and scrapes it over HTTP, printing each
scrape's time, the best, and its ratio to the 1 s budget.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidpipe import db, observability  # noqa: E402

BUDGET_S = 1.0
NODES = [
    ("script", "asset", None),
    ("voice", "generate-voiceover", "elevenlabs"),
    ("host", "generate-talking-head", "heygen"),
    ("broll", "generate-animation", "veo3"),
    ("review", "approval", None),
    ("final", "merge-videos", None),
]
STATUSES = ["completed"] * 88 + ["failed"] * 5 + ["cancelled", "rejected"] * 2 + ["running"] * 2
KINDS = ["rate_limited", "server_error", "timeout", "connection", "rejected", "job_failed"]


def build(engine, runs: int, seed: int = 11) -> None:
    """Fill the database with `runs` runs and everything around them (bulk inserts)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    pipelines = []
    for index in range(10):
        name = f"pipeline-{index}"
        pipelines.append(db.upsert_pipeline(engine, name, {"name": name, "n": index}))
    run_rows, node_rows, cost_rows, approval_rows = [], [], [], []
    for index in range(runs):
        pipeline = pipelines[index % len(pipelines)]
        started = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        duration = rng.lognormvariate(4.5, 0.6)
        status = rng.choice(STATUSES) if index < runs - 5 else "awaiting_approval"
        ended = status not in ("running", "awaiting_approval")
        run_id = db.new_id()
        run_rows.append(
            {
                "id": run_id,
                "pipeline_id": pipeline.id,
                "pipeline_name": pipeline.name,
                "status": status,
                "mode": "live",
                "created_at": started,
                "started_at": started,
                "finished_at": started + timedelta(seconds=duration) if ended else None,
                "updated_at": started + timedelta(seconds=duration),
                "refresh": [],
            }
        )
        at = started
        for position, (node_id, node_type, provider) in enumerate(NODES):
            hit = provider is not None and rng.random() < 0.33
            took = 0.0 if hit else rng.uniform(0.5, duration / 3)
            node_rows.append(
                {
                    "id": db.new_id(),
                    "run_id": run_id,
                    "node_id": node_id,
                    "type": node_type,
                    "position": position,
                    "status": "failed"
                    if status == "failed" and node_id == "final"
                    else ("completed" if ended else "running"),
                    "attempts": 1,
                    "cache_hit": hit,
                    "provider": None if hit else provider,
                    "started_at": at,
                    "finished_at": at + timedelta(seconds=took),
                    "updated_at": at + timedelta(seconds=took),
                    "cache_key": f"{pipeline.name}-{node_id}-{rng.randrange(2000)}",
                }
            )
            at += timedelta(seconds=took)
            if provider is not None:
                kind = "savings" if hit else "billed"
                cost_rows.append(
                    {
                        "id": db.new_id(),
                        "run_id": run_id,
                        "node_id": node_id,
                        "provider": provider,
                        "unit": "seconds",
                        "quantity": 8.0,
                        "unit_price_usd": 0.1,
                        "amount_usd": round(rng.uniform(0.05, 3.0), 4),
                        "created_at": at,
                        "kind": kind,
                    }
                )
        if index % 3 == 0 and ended:
            approval_rows.append(
                {
                    "id": db.new_id(),
                    "run_id": run_id,
                    "node_id": "review",
                    "decision": rng.choice(["approve"] * 7 + ["revise", "reject"]),
                    "reviewer": "ana",
                    "decided_at": at,
                }
            )
    error_rows = [
        {
            "id": db.new_id(),
            "provider": rng.choice(["elevenlabs", "heygen", "veo3", "replicate"]),
            "kind": rng.choice(KINDS),
            "status": 503,
            "at": now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
        }
        for _ in range(runs // 5)
    ]
    with db.session_scope(engine) as session:
        for table, rows in (
            (db.Run, run_rows),
            (db.NodeRun, node_rows),
            (db.CostEntry, cost_rows),
            (db.Approval, approval_rows),
            (db.ProviderErrorRow, error_rows),
        ):
            session.execute(table.__table__.insert(), rows)  # type: ignore[attr-defined]
    hours = [db.hour_of(now - timedelta(hours=h)) for h in range(30 * 24)]
    db.add_provider_calls(
        engine,
        [
            db.CallCount(
                provider, "pipeline-0", hour, rng.randrange(10, 200), rng.randrange(3), hour
            )
            for hour in hours
            for provider in ("elevenlabs", "heygen", "veo3")
        ],
    )
    for index in range(20):
        db.open_alert(
            engine,
            alert="provider_down",
            key=f"provider_down-{index}",
            severity="critical",
            summary="down",
            value=400.0,
            threshold=300.0,
            labels={"provider": f"p{index}"},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'vidpipe.db'}"
        engine = db.make_engine(url)
        db.init_db(engine)
        started = time.perf_counter()
        build(engine, args.runs)
        print(
            f"built {args.runs} runs in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
        )
        server = observability.serve_metrics(engine, host="127.0.0.1", port=0)
        address = f"http://127.0.0.1:{server.port}/metrics"
        timings = []
        try:
            with httpx.Client(timeout=30) as client:
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    response = client.get(address)
                    timings.append(time.perf_counter() - started)
                    response.raise_for_status()
        finally:
            server.stop()
        samples = sum(len(f.samples) for f in text_string_to_metric_families(response.text))
        for number, took in enumerate(timings, 1):
            print(f"scrape {number}: {took * 1000:.0f} ms")
        best = min(timings)
        print(
            f"best {best * 1000:.0f} ms for {samples} samples, {len(response.content)} bytes: "
            f"{best / BUDGET_S:.0%} of the {BUDGET_S:g} s budget"
        )


if __name__ == "__main__":
    main()
