"""The dashboard's dependency graph, laid out without a browser: columns by the chain
of tasks upstream, the bottleneck's late tasks and the tasks they hold up marked, the
critical path's arrows apart."""

from __future__ import annotations

import pytest

from dashboard.graph import depths, layout
from dashboard.settings import DashboardSettings, SettingsError, split_address


def test_a_task_sits_one_column_right_of_its_furthest_upstream() -> None:
    edges = [("3", "24"), ("24", "30"), ("3", "30"), ("21", "24")]
    assert depths(edges) == {"3": 0, "21": 0, "24": 1, "30": 2}


def test_the_bottleneck_and_what_it_holds_up_are_marked_and_the_critical_path_drawn() -> None:
    graph = layout(
        [("3", "24"), ("21", "24"), ("24", "30")],
        late={"3", "9"},
        held={"24"},
        blocked={("3", "24")},
        critical=["3", "24", "30"],
        bottlenecks=[{"agency": "phuoc-binh.vhxh", "late": ["3"], "held": ["24"]}],
    )
    kinds = {n.key: n.kind for n in graph.nodes}
    # 9 is late with no declared edge: drawn all the same
    assert kinds == {"3": "bottleneck", "9": "bottleneck", "21": "task", "24": "held", "30": "critical"}
    edges = {(e.upstream, e.downstream): e.kind for e in graph.edges}
    assert edges == {("3", "24"): "critical", ("21", "24"): "edge", ("24", "30"): "critical"}
    xs = {n.key: n.x for n in graph.nodes}
    assert xs["3"] < xs["24"] < xs["30"]
    assert all(0 <= n.x < graph.width and 0 <= n.y < graph.height for n in graph.nodes)


def test_no_dependency_no_node() -> None:
    graph = layout([], late=set(), held=set(), blocked=set(), critical=[], bottlenecks=[])
    assert graph.nodes == []
    assert graph.edges == []


def test_an_address_is_host_and_port_and_a_bad_one_names_its_setting(tmp_path) -> None:
    assert split_address("127.0.0.1:8057") == ("127.0.0.1", 8057)
    assert split_address("[::1]:8057") == ("::1", 8057)
    files = tmp_path / "f.pem"
    files.write_text("x")
    settings = DashboardSettings("8057", "127.0.0.1:50051", files, files, files)
    with pytest.raises(SettingsError, match="LIENTHONG_DASHBOARD_ADDRESS"):
        settings.check()
