"""The pure DAG functions of vidpipe.graph: order, groups, cycles, closures."""

from __future__ import annotations

import sys

import pytest

from vidpipe.graph import (
    dependents_map,
    downstream,
    find_cycle,
    invalidated_by,
    levels,
    topological_order,
    upstream,
)

# a -> (b, c) -> d : d depends on b and c, which both depend on a.
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}

# Three sources fan in to a merge, which fans out to two consumers; one of them also
# waits on a late source. Listed out of dependency order on purpose.
FAN = {
    "out_1": ["merge"],
    "src_1": [],
    "src_2": [],
    "merge": ["src_1", "src_2", "src_3"],
    "src_3": [],
    "out_2": ["merge", "late"],
    "late": [],
}


def assert_respects_deps(order, deps):
    position = {n: i for i, n in enumerate(order)}
    for node, ups in deps.items():
        for up in ups:
            assert position[up] < position[node], f"{node} before its dependency {up}"


def test_topological_order_puts_every_node_after_its_deps():
    order = topological_order(FAN)

    assert sorted(order) == sorted(FAN)
    assert_respects_deps(order, FAN)


def test_topological_order_keeps_file_order_among_independent_nodes():
    assert topological_order({"z": [], "y": [], "x": []}) == ["z", "y", "x"]


def test_topological_order_breaks_ties_by_file_order():
    assert topological_order(FAN) == ["src_1", "src_2", "src_3", "merge", "out_1", "late", "out_2"]


def test_topological_order_of_a_diamond():
    assert topological_order(DIAMOND) == ["a", "b", "c", "d"]


def test_topological_order_ignores_repeated_and_unknown_deps():
    assert topological_order({"a": [], "b": ["a", "a", "ghost"]}) == ["a", "b"]


def test_topological_order_of_nothing_is_empty():
    assert topological_order({}) == []
    assert levels({}) == []


def test_topological_order_raises_naming_the_cycle():
    with pytest.raises(ValueError, match=r"cycle: a -> b -> a"):
        topological_order({"a": ["b"], "b": ["a"]})


def test_levels_of_a_diamond():
    assert levels(DIAMOND) == [["a"], ["b", "c"], ["d"]]


def test_levels_of_a_fan_in_fan_out():
    assert levels(FAN) == [["src_1", "src_2", "src_3", "late"], ["merge"], ["out_1", "out_2"]]


def test_levels_place_a_node_after_its_longest_chain():
    # d depends on a directly and through b -> c: it must wait for c.
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"]}

    assert levels(deps) == [["a"], ["b"], ["c"], ["d"]]


def test_levels_raise_on_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        levels({"a": ["b"], "b": ["a"]})


def test_find_cycle_returns_none_for_a_dag():
    assert find_cycle(FAN) is None
    assert find_cycle(DIAMOND) is None


def test_find_cycle_names_a_two_node_cycle_as_a_closed_path():
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


def test_find_cycle_names_a_self_loop():
    assert find_cycle({"x": [], "loop": ["loop"]}) == ["loop", "loop"]


def test_find_cycle_path_follows_real_edges():
    deps = {"start": ["a"], "a": ["b"], "b": ["c"], "c": ["a"], "other": []}

    cycle = find_cycle(deps)

    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    for node, dep in zip(cycle, cycle[1:], strict=False):
        assert dep in deps[node], f"{node} -> {dep} is not an edge"


def test_find_cycle_ignores_references_to_unknown_nodes():
    assert find_cycle({"a": ["ghost"], "b": ["a"]}) is None


def test_upstream_is_the_transitive_closure_of_dependencies():
    assert upstream(FAN, ["out_2"]) == {"merge", "src_1", "src_2", "src_3", "late"}
    assert upstream(DIAMOND, ["d"]) == {"a", "b", "c"}


def test_upstream_of_a_source_is_empty():
    assert upstream(FAN, ["src_1"]) == set()


def test_downstream_is_the_transitive_closure_of_dependents():
    assert downstream(FAN, ["src_2"]) == {"merge", "out_1", "out_2"}
    assert downstream(DIAMOND, ["b"]) == {"d"}


def test_closures_of_several_nodes_are_their_union():
    assert downstream(DIAMOND, ["b", "c"]) == {"d"}
    assert upstream(FAN, ["out_1", "out_2"]) == upstream(FAN, ["out_2"])


def test_closures_ignore_unknown_nodes():
    assert upstream(DIAMOND, ["ghost"]) == set()
    assert downstream(DIAMOND, ["ghost"]) == set()


def test_invalidated_by_is_the_node_and_everything_after_it():
    assert invalidated_by(FAN, ["merge"]) == {"merge", "out_1", "out_2"}
    assert invalidated_by(FAN, ["late"]) == {"late", "out_2"}
    assert invalidated_by(DIAMOND, ["a"]) == set(DIAMOND)


def test_invalidated_by_a_sink_is_only_the_sink():
    assert invalidated_by(FAN, ["out_1"]) == {"out_1"}


def test_invalidated_by_ignores_unknown_nodes():
    assert invalidated_by(DIAMOND, ["ghost"]) == set()


def test_dependents_map_reverses_edges_in_file_order():
    assert dependents_map(FAN)["merge"] == ["out_1", "out_2"]
    assert dependents_map(DIAMOND) == {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}


def chain(n: int) -> dict[str, list[str]]:
    return {f"n{i}": [f"n{i - 1}"] if i else [] for i in range(n)}


def test_a_10000_node_chain_does_not_hit_the_recursion_limit():
    deps = chain(10_000)
    assert sys.getrecursionlimit() < 10_000

    assert topological_order(deps) == list(deps)
    assert len(levels(deps)) == 10_000
    assert find_cycle(deps) is None
    assert len(upstream(deps, ["n9999"])) == 9_999
    assert len(downstream(deps, ["n0"])) == 9_999
    assert len(invalidated_by(deps, ["n5000"])) == 5_000


def test_a_10000_node_chain_closed_into_a_cycle_is_found():
    deps = chain(10_000)
    deps["n0"] = ["n9999"]

    cycle = find_cycle(deps)

    assert cycle is not None
    assert len(cycle) == 10_001
    assert cycle[0] == cycle[-1]
