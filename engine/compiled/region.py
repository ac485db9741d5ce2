"""Maximal fusible regions of a graph: elementwise nodes of one shape and dtype, ending in one output.

A region is grown backwards from a root (its one value used outside it): a
producer joins when it is fusible, has the region's shape and dtype, and every
consumer of its value is already in the region. A region is therefore convex
(nothing outside depends on its inside) and can replace its nodes by one
forward kernel and one backward kernel. A ``sum``/``mean`` over every axis may
be the root, folded into the loop. Region inputs are the values it reads from
outside: each is either of the region's full shape or a single element
(broadcast), so a kernel indexes every array by one flat index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.compiled.rules import REDUCTIONS, RULES, fusible_attrs
from engine.ir import Node
from engine.tape import Plan

__all__ = ["Region", "SlotInfo", "find_regions"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class SlotInfo:
    """What a first interpreter run tells about each slot: shape, dtype, and Python-float constants."""

    shapes: Sequence[Shape]
    dtypes: Sequence[np.dtype[Any] | None]  # None: a weakly typed Python float
    floats: Mapping[int, float]  # slot -> value of a Python-float constant


@dataclass
class Region:
    """Nodes fused into one loop over ``size`` elements; ``root`` is the slot the rest of the graph reads."""

    shape: Shape
    dtype: np.dtype[Any]
    nodes: list[Node]  # elementwise, in tape order
    reduce: Node | None  # a sum/mean over every axis of the last node's value, or None
    inputs: list[int] = field(default_factory=list)  # external slots read, first use first
    full: list[bool] = field(default_factory=list)  # per input: full-shaped (else a single element)
    wanted: dict[int, tuple[int, ...]] = field(default_factory=dict)  # node out -> arg positions with a VJP

    @property
    def root(self) -> int:
        return self.reduce.out if self.reduce is not None else self.nodes[-1].out

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def members(self) -> set[int]:
        out = {n.out for n in self.nodes}
        if self.reduce is not None:
            out.add(self.reduce.out)
        return out


def _fusible(node: Node, info: SlotInfo) -> bool:
    name, out = node.op.name, node.out
    dtype = info.dtypes[out]
    if dtype is None or dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return False
    if name in REDUCTIONS:
        return len(node.args) == 1 and fusible_attrs(name, node.kwargs, len(info.shapes[node.args[0]]))
    if name not in RULES or not fusible_attrs(name, node.kwargs, 0):
        return False
    return all(info.dtypes[a] in (None, dtype) for a in node.args)


def _fits(node: Node, shape: Shape, dtype: np.dtype[Any], info: SlotInfo) -> bool:
    """Elementwise with the region's shape and dtype, reading full-shaped or single-element values only."""
    if node.op.name in REDUCTIONS or info.shapes[node.out] != shape or info.dtypes[node.out] != dtype:
        return False
    return all(info.shapes[a] == shape or int(np.prod(info.shapes[a])) == 1 for a in node.args)


def _consumers(nodes: Sequence[Node], outputs: Sequence[int]) -> dict[int, list[int]]:
    used: dict[int, list[int]] = {}
    for k, node in enumerate(nodes):
        for a in node.args:
            used.setdefault(a, []).append(k)
    for o in outputs:
        used.setdefault(o, []).append(-1)  # read by the caller
    return used


def find_regions(nodes: Sequence[Node], outputs: Sequence[int], plan: Plan, info: SlotInfo, *,
                 max_nodes: int = 4000, min_nodes: int = 2) -> list[Region]:
    """Regions of at least ``min_nodes`` ops (a folded reduction counts), in tape order of their roots."""
    fusible = [_fusible(n, info) for n in nodes]
    used = _consumers(nodes, outputs)
    assigned = [False] * len(nodes)
    regions: list[Region] = []
    for k in range(len(nodes) - 1, -1, -1):
        if assigned[k] or not fusible[k]:
            continue
        region = _grow(nodes, k, fusible, assigned, used, info, max_nodes)
        if region is not None and len(region.nodes) + (region.reduce is not None) >= min_nodes:
            for idx in _indices(nodes, region):
                assigned[idx] = True
            regions.append(region)
    wanted = {node.out: tuple(i for i, _ in w) for node, w in plan.steps}
    for region in regions:
        _finish(region, info, wanted)
    return regions[::-1]


def _indices(nodes: Sequence[Node], region: Region) -> list[int]:
    members = region.members
    return [k for k, n in enumerate(nodes) if n.out in members]


def _grow(nodes: Sequence[Node], k: int, fusible: list[bool], assigned: list[bool],
          used: Mapping[int, list[int]], info: SlotInfo, max_nodes: int) -> Region | None:
    """The region rooted at node ``k``: scan earlier nodes once, taking those whose readers are all inside."""
    root = nodes[k]
    reduce, j0 = None, k
    if root.op.name in REDUCTIONS:
        reduce, first = root, root.args[0]
        j0 = next((j for j in range(k - 1, -1, -1) if nodes[j].out == first), -1)
        if j0 < 0 or assigned[j0] or not fusible[j0] or used.get(first) != [k]:
            return None
    top = nodes[j0]
    shape, dtype = info.shapes[top.out], info.dtypes[top.out]
    if dtype is None or int(np.prod(shape)) == 0 or not _fits(top, shape, dtype, info):
        return None
    inside = {k, j0}
    members = [top]
    for j in range(j0 - 1, -1, -1):
        if len(members) >= max_nodes:
            break
        node = nodes[j]
        if assigned[j] or not fusible[j] or not _fits(node, shape, dtype, info):
            continue
        readers = used.get(node.out, [])
        if readers and all(r in inside for r in readers):
            inside.add(j)
            members.append(node)
    return Region(shape, dtype, members[::-1], reduce)


def _finish(region: Region, info: SlotInfo, wanted: Mapping[int, tuple[int, ...]]) -> None:
    """External inputs (full or single-element) and the VJPs the plan runs inside the region."""
    members = region.members
    for node in region.nodes:
        for a in node.args:
            if a not in members and a not in info.floats and a not in region.inputs:
                region.inputs.append(a)
                region.full.append(info.shapes[a] == region.shape)
        if node.out in wanted:
            region.wanted[node.out] = wanted[node.out]
    if region.reduce is not None and region.reduce.out in wanted:
        region.wanted[region.reduce.out] = wanted[region.reduce.out]
