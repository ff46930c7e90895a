"""Putting a bulk export's JSONL lines back into nodes, within a fixed memory bound.

Shopify writes nested connection nodes as their own lines with `__parentId`, and from API
2026-01 (`groupObjects: false`) a child need not follow its parent (reference: "Bulk
operations"). Lines are read once, in order; a parent stays open while the next few parents
arrive, so children a little before or after it still find it. A child whose parent is no
longer (or not yet) open is not kept: its parent's id is handed back to be fetched again by
id, which is exact whatever the order and keeps memory flat however large the file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Node = dict[str, Any]
# Where a child line belongs in its parent's node, e.g. ("variants",) or ("discount", "codes").
Placement = Callable[[Node], tuple[str, ...]]

# Parents kept open after newer ones arrive: children a few lines late still find them.
KEEP_OPEN = 8
# A batch of parents handed over to be written (a page of the paged path is up to 250).
BATCH_PARENTS = 250
# Lines held at most before parents are handed over (children of the newest included).
BATCH_LINES = 5_000
# Children waiting for a parent not seen yet; past this their parents are fetched by id.
ORPHAN_LINES = 10_000


@dataclass
class _Open:
    node: Node
    lines: int = 1


@dataclass
class Assembler:
    """Feed lines with `add`; write what it hands back; at the end `drain` the rest."""

    place: Placement
    keep_open: int = KEEP_OPEN
    batch_parents: int = BATCH_PARENTS
    batch_lines: int = BATCH_LINES
    orphan_lines: int = ORPHAN_LINES
    # Parents to fetch again by id: some of their children missed them.
    refetch: set[str] = field(default_factory=set)
    _open: OrderedDict[str, _Open] = field(default_factory=OrderedDict)
    _open_lines: int = 0
    _orphans: dict[str, list[Node]] = field(default_factory=dict)
    _orphan_count: int = 0

    def add(self, line: Node) -> list[Node]:
        """Take one line; answer the parents that are ready to be written (often none)."""
        parent_id = line.pop("__parentId", None)
        if parent_id is None:
            self._open_parent(line)
        elif parent_id in self._open:
            self._attach(self._open[parent_id], line)
        else:
            self._orphan(str(parent_id), line)
        too_many = len(self._open) > self.batch_parents + self.keep_open
        if too_many or self._open_lines > self.batch_lines:
            return self._take(len(self._open) - self.keep_open)
        return []

    def drain(self) -> tuple[list[Node], set[str]]:
        """Every open parent, and the ids to fetch again (orphans' parents included)."""
        nodes = self._take(len(self._open))
        self.refetch.update(self._orphans)
        self._orphans, self._orphan_count = {}, 0
        refetch, self.refetch = self.refetch, set()
        return nodes, refetch

    def _open_parent(self, line: Node) -> None:
        node_id = str(line.get("id"))
        entry = _Open(line)
        self._open[node_id] = entry
        self._open_lines += 1
        waiting = self._orphans.pop(node_id, [])
        self._orphan_count -= len(waiting)
        for child in waiting:
            self._attach(entry, child)

    def _attach(self, entry: _Open, child: Node) -> None:
        *path, name = self.place(child)
        holder = entry.node
        for key in path:
            holder = holder.setdefault(key, {})
        connection = holder.setdefault(name, {"nodes": [], "pageInfo": {"hasNextPage": False}})
        connection["nodes"].append(child)
        entry.lines += 1
        self._open_lines += 1

    def _orphan(self, parent_id: str, child: Node) -> None:
        self._orphans.setdefault(parent_id, []).append(child)
        self._orphan_count += 1
        if self._orphan_count > self.orphan_lines:
            self.refetch.update(self._orphans)
            self._orphans, self._orphan_count = {}, 0

    def _take(self, count: int) -> list[Node]:
        taken: list[Node] = []
        for _ in range(max(count, 0)):
            _, entry = self._open.popitem(last=False)
            self._open_lines -= entry.lines
            taken.append(entry.node)
        return taken
