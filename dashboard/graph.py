"""The dependency graph of a plan as a server-rendered SVG: tasks in columns by how
many tasks they wait on in a chain (upstream left), arrows from upstream to
downstream; the late tasks of a bottleneck agency in red, the tasks they hold up in
amber, the critical path's arrows thick."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

COLUMN = 170
ROW = 64
NODE_W = 120
NODE_H = 38
MARGIN = 20


@dataclass
class Node:
    key: str
    x: int
    y: int
    kind: str  # "bottleneck" (late, holds others up), "held", "critical" or "task"


@dataclass
class Edge:
    upstream: str
    downstream: str
    path: str
    kind: str  # "critical", "blocked" or "edge"


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    bottlenecks: list[dict[str, Any]] = field(default_factory=list)
    critical: list[str] = field(default_factory=list)
    position: int = 0  # the log position the answer covers


def depths(edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each task's column: the length of the longest chain of tasks upstream of it
    (the graph is acyclic: the domain refuses cycles)."""
    nodes = sorted({n for edge in edges for n in edge}, key=sort_key)
    upstream: dict[str, list[str]] = {n: [] for n in nodes}
    for up, down in edges:
        upstream[down].append(up)
    found: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str]) -> int:
        if node not in found:
            ups = [u for u in upstream[node] if u not in seen]
            found[node] = 1 + max((depth(u, seen | {node}) for u in ups), default=-1)
        return found[node]

    for node in nodes:
        depth(node, frozenset())
    return found


def sort_key(key: str) -> tuple[int, str]:
    digits = "".join(c for c in key if c.isdigit())
    return (int(digits) if digits else 0, key)


def layout(
    edges: list[tuple[str, str]],
    *,
    late: set[str],
    held: set[str],
    blocked: set[tuple[str, str]],
    critical: list[str],
    bottlenecks: list[dict[str, Any]],
) -> Graph:
    columns = depths(edges)
    for key in sorted(late | held, key=sort_key):  # a late task without a declared edge
        columns.setdefault(key, 0)
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    on_path = set(critical)
    for key in sorted(columns, key=lambda k: (columns[k], sort_key(k))):
        column = columns[key]
        row = rows.get(column, 0)
        rows[column] = row + 1
        kind = (
            "bottleneck"
            if key in late
            else "held"
            if key in held
            else "critical"
            if key in on_path
            else "task"
        )
        nodes[key] = Node(key, MARGIN + column * COLUMN, MARGIN + row * ROW, kind)
    path_edges = set(itertools.pairwise(critical))
    graph = Graph(bottlenecks=bottlenecks, critical=critical)
    for up, down in sorted(edges, key=lambda e: (sort_key(e[0]), sort_key(e[1]))):
        a, b = nodes[up], nodes[down]
        x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
        x2, y2 = b.x, b.y + NODE_H // 2
        middle = (x1 + x2) // 2
        path = f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2 - 6},{y2}"
        kind = (
            "critical"
            if (up, down) in path_edges
            else "blocked"
            if (up, down) in blocked
            else "edge"
        )
        graph.edges.append(Edge(up, down, path, kind))
    graph.nodes = list(nodes.values())
    graph.width = MARGIN * 2 + (max(columns.values(), default=0) + 1) * COLUMN
    graph.height = MARGIN * 2 + max(rows.values(), default=0) * ROW
    return graph
