"""The pipeline DAG: order, parallel groups, cycles, closures, invalidation.

Pure functions over a dependency mapping `{node: [nodes it depends on]}` (the union of
its `inputs` and `after` references); no Prefect, no I/O. Orders are stable: among nodes
that could go in any order, file order wins, so plans read like the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Deps",
    "find_cycle",
    "topological_order",
    "levels",
    "upstream",
    "downstream",
    "invalidated_by",
    "dependents_map",
]

Deps = Mapping[str, Sequence[str]]


def dependents_map(deps: Deps) -> dict[str, list[str]]:
    """Reverse edges: `{node: [nodes that depend on it]}`, in file order."""
    out: dict[str, list[str]] = {n: [] for n in deps}
    for node, ups in deps.items():
        for up in dict.fromkeys(ups):
            if up in out:
                out[up].append(node)
    return out


def find_cycle(deps: Deps) -> list[str] | None:
    """One cycle as a closed path `[a, b, ..., a]` (a depends on b ...), or None.

    Iterative DFS (no recursion limit for long chains). References to unknown nodes are
    ignored: reporting those is the validator's job.
    """
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(deps, WHITE)
    for root in deps:
        if color[root] != WHITE:
            continue
        path: list[str] = [root]
        stack: list[Iterable[str]] = [iter(deps[root])]
        color[root] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = BLACK
                stack.pop()
                continue
            if nxt not in color:
                continue
            if color[nxt] == GREY:
                return path[path.index(nxt) :] + [nxt]
            if color[nxt] == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                stack.append(iter(deps[nxt]))
    return None


def levels(deps: Deps) -> list[list[str]]:
    """Parallel groups: group k holds the nodes whose longest upstream chain has k links.

    Every node of a group can run at the same time once the groups before it are done.
    Raises ValueError on a cycle.
    """
    depth: dict[str, int] = {}
    for node in topological_order(deps):
        ups = [depth[u] for u in deps[node] if u in depth]
        depth[node] = 1 + max(ups) if ups else 0
    groups: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in deps:  # file order inside each group
        groups[depth[node]].append(node)
    return groups


def topological_order(deps: Deps) -> list[str]:
    """Every node after the nodes it depends on; ties broken by file order.

    Raises ValueError naming a cycle if there is one.
    """
    import heapq

    position = {n: i for i, n in enumerate(deps)}
    remaining = {n: len({u for u in deps[n] if u in position}) for n in deps}
    rdeps = dependents_map(deps)
    ready = [position[n] for n, count in remaining.items() if count == 0]
    heapq.heapify(ready)
    names = list(deps)
    order: list[str] = []
    while ready:
        node = names[heapq.heappop(ready)]
        order.append(node)
        for child in rdeps[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) != len(deps):
        cycle = find_cycle(deps) or []
        raise ValueError("cycle: " + " -> ".join(cycle))
    return order


def _closure(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [n for n in start if n in edges]
    while todo:
        node = todo.pop()
        for nxt in edges[node]:
            if nxt in edges and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def upstream(deps: Deps, nodes: Iterable[str]) -> set[str]:
    """Every node the given nodes depend on, directly or transitively (not themselves)."""
    return _closure(nodes, deps)


def downstream(deps: Deps, nodes: Iterable[str]) -> set[str]:
    """Every node that depends on the given nodes, directly or transitively (not themselves)."""
    return _closure(nodes, dependents_map(deps))


def invalidated_by(deps: Deps, nodes: Iterable[str]) -> set[str]:
    """What a change to the given nodes makes stale: the nodes themselves and all dependents."""
    nodes = [n for n in nodes if n in deps]
    return set(nodes) | downstream(deps, nodes)
