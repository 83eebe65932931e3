"""A run's estimate: every node of a plan in order, its totals and how it is shown, and
the texts of file assets an estimate can count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidpipe.costs.amounts import _format_unit_price, cents, format_usd
from vidpipe.costs.estimates import InputInfo, Mode, NodeEstimate, estimate_node
from vidpipe.costs.prices import PriceBook

if TYPE_CHECKING:
    from vidpipe.plan import Plan
    from vidpipe.spec import PipelineSpec


@dataclass(frozen=True)
class VariantCost:
    """One variant's share of a run's estimate.

    `adds_usd` is what the variant adds to the variants before it (work no earlier
    variant shares; the first variant carries the shared work), so the variants' adds sum
    to the run's estimate; `alone_usd` what it would cost made on its own. `live_*` are
    the same at live prices."""

    name: str
    adds_usd: Decimal
    alone_usd: Decimal
    live_adds_usd: Decimal
    live_alone_usd: Decimal
    #: Nodes this variant reframes from the first variant's instead of making again.
    reframed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adds_usd": str(cents(self.adds_usd)),
            "alone_usd": str(cents(self.alone_usd)),
            "live_adds_usd": str(cents(self.live_adds_usd)),
            "live_alone_usd": str(cents(self.live_alone_usd)),
            "reframed": list(self.reframed),
        }


def _variant_costs(plan: Plan, nodes: Iterable[NodeEstimate]) -> tuple[VariantCost, ...]:
    if len(plan.variants) < 2:
        return ()
    by_id = {n.node_id: n for n in nodes}
    costs = []
    for variant in plan.variants:
        used = [by_id[n] for n in variant.nodes if n in by_id]
        own = [e for e in used if plan.node(e.node_id).variants[:1] == (variant.name,)]
        costs.append(
            VariantCost(
                name=variant.name,
                adds_usd=sum((e.marginal_usd for e in own), Decimal(0)),
                alone_usd=sum((e.usd for e in used), Decimal(0)),
                live_adds_usd=sum((e.live_marginal_usd for e in own), Decimal(0)),
                live_alone_usd=sum((e.live_usd for e in used), Decimal(0)),
                reframed=tuple(e.node_id for e in own if plan.node(e.node_id).type == "reframe"),
            )
        )
    return tuple(costs)


@dataclass(frozen=True)
class PlanEstimate:
    """A run's estimate: one `NodeEstimate` per node in plan order, and the totals.

    `total_usd` is the full cost of the pipeline, `marginal_usd` what this run adds (nodes
    expected from cache cost nothing). `live_*` are the same at live prices, which a
    placeholder run shows beside its zeros."""

    pipeline: str
    mode: str
    book_version: str
    nodes: tuple[NodeEstimate, ...]
    #: With several variants: what each one costs (`VariantCost`), in the file's order.
    variants: tuple[VariantCost, ...] = ()

    @cached_property
    def by_id(self) -> dict[str, NodeEstimate]:
        return {n.node_id: n for n in self.nodes}

    def node(self, node_id: str) -> NodeEstimate:
        return self.by_id[node_id]

    @property
    def total_usd(self) -> Decimal:
        return sum((n.usd for n in self.nodes), Decimal(0))

    @property
    def marginal_usd(self) -> Decimal:
        return sum((n.marginal_usd for n in self.nodes), Decimal(0))

    @property
    def live_total_usd(self) -> Decimal:
        return sum((n.live_usd for n in self.nodes), Decimal(0))

    @property
    def live_marginal_usd(self) -> Decimal:
        return sum((n.live_marginal_usd for n in self.nodes), Decimal(0))

    @property
    def uncertain(self) -> bool:
        return any(n.uncertain for n in self.nodes)

    def most_expensive(self, n: int = 3) -> list[NodeEstimate]:
        """The `n` nodes that cost this run the most (what it is billed, then the live
        price); free nodes and nodes expected from cache are never listed."""
        paid = [e for e in self.nodes if e.live_marginal_usd > 0]
        ranked = sorted(paid, key=lambda e: (e.marginal_usd, e.live_marginal_usd), reverse=True)
        return ranked[:n]

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per generative node (for a Prefect table artifact or `--json`)."""
        return [n.to_row() for n in self.nodes if n.generative]

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "mode": self.mode,
            "price_book": self.book_version,
            "nodes": self.to_rows(),
            "total_usd": str(cents(self.total_usd)),
            "marginal_usd": str(cents(self.marginal_usd)),
            "live_total_usd": str(cents(self.live_total_usd)),
            "live_marginal_usd": str(cents(self.live_marginal_usd)),
            "uncertain": self.uncertain,
            "variants": [v.to_json() for v in self.variants],
        }

    def to_text(self) -> str:
        """The cost block `vidpipe plan` prints: a line per generative node, then totals.

        A placeholder run shows what each node would cost live beside its $0.00."""
        paid = [n for n in self.nodes if n.generative]
        live_column = self.mode != "live"
        header = ["node", "provider", "model", "quantity", "unit price", "cost"]
        header += ["live", "cache"] if live_column else ["cache"]
        rows = []
        for n in paid:
            row = [
                n.node_id,
                n.provider,
                n.model or "",
                n.basis,
                _format_unit_price(n.unit_price_usd),
                format_usd(n.usd),
            ]
            row += [format_usd(n.live_usd)] if live_column else []
            rows.append([*row, "cached" if n.expected_cached else ""])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def fmt(row: list[str]) -> str:
            return "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

        mode = "placeholder mode: nothing is billed" if live_column else "live mode"
        lines = [f"cost estimate ({mode}; price book {self.book_version})"]
        lines += [fmt(header), *(fmt(r) for r in rows)] if rows else ["  no paid nodes"]
        free = len(self.nodes) - len(paid)
        if free:
            lines.append(f"  ({free} local node{'s' if free != 1 else ''}: no charge)")
        lines.append(
            f"  total {format_usd(self.total_usd)}; this run {format_usd(self.marginal_usd)}"
            " (nodes expected from cache cost nothing)"
        )
        if live_column:
            lines.append(
                f"  live prices: total {format_usd(self.live_total_usd)}; "
                f"this run {format_usd(self.live_marginal_usd)}"
            )
        for v in self.variants:
            adds, alone = (
                (v.live_adds_usd, v.live_alone_usd) if live_column else (v.adds_usd, v.alone_usd)
            )
            prices = " at live prices" if live_column else ""
            reframed = f"; reframes {', '.join(v.reframed)}" if v.reframed else ""
            lines.append(
                f"  variant {v.name}: adds {format_usd(adds)}{prices} "
                f"({format_usd(alone)} on its own){reframed}"
            )
        lines += [f"  note: {n.node_id}: {note}" for n in paid for note in n.notes]
        return "\n".join(lines)


def estimate_plan(
    plan: Plan,
    *,
    mode: Mode | None = None,
    book: PriceBook,
    cached: Iterable[str] = frozenset(),
    known: Mapping[str, InputInfo] | None = None,
) -> PlanEstimate:
    """Estimate every node in plan order, handing known quantities downstream.

    A text asset's text reaches the voiceover that reads it; a voiceover's estimated
    length reaches the talking head that speaks it. `known` (node id -> `InputInfo`)
    adds what the caller knows better: the text of a path asset (:func:`read_asset_texts`)
    or the real duration of an output already made; it wins over the estimate's guess.
    `cached` names the nodes expected from cache (their marginal cost is 0). `mode`
    defaults to the pipeline's.
    """
    spec = plan.spec
    mode = mode or spec.mode
    cached = frozenset(cached)
    infos: dict[str, InputInfo] = dict(known or {})
    estimates = []
    for node_id in plan.order:
        node = plan.node(node_id)
        video = node.video or spec.video
        est = estimate_node(node, mode=mode, inputs_info=infos, book=book, video=video)
        if node_id in cached:
            est = replace(est, expected_cached=True)
        # What the caller knows wins; an asset's estimate already merged it in.
        if est.output is not None and (node_id not in infos or node.type == "asset"):
            infos[node_id] = est.output
        estimates.append(est)
    return PlanEstimate(
        pipeline=spec.name,
        mode=mode,
        book_version=book.version,
        nodes=tuple(estimates),
        variants=_variant_costs(plan, estimates),
    )


def read_asset_texts(spec: PipelineSpec, *, max_bytes: int = 1_000_000) -> dict[str, InputInfo]:
    """The text of every text asset kept in a local file (`asset.path`), for
    :func:`estimate_plan`'s `known`. The only function here that reads files; a file that
    cannot be read is left out (the estimate then assumes a length and says so)."""
    found: dict[str, InputInfo] = {}
    if spec.base_dir is None:
        return found
    base = Path(spec.base_dir).resolve()
    for node in spec.nodes:
        asset = node.asset
        if asset is None or asset.kind != "text" or asset.path is None:
            continue
        path = (base / asset.path).resolve()
        try:
            if not path.is_relative_to(base) or path.stat().st_size > max_bytes:
                continue
            found[node.id] = InputInfo(kind="text", text=path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return found
