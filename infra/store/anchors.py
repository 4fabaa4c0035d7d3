"""Where the pages an ingress served ended, so that the next page starts there, not at an offset.

An IdP's import reads a whole tenant by index (``startIndex=1``, ``101``, ``201`` … in creation
order, nothing filtered): with ``OFFSET`` each page walks every index entry before it, so reading
everything is quadratic. An anchor remembers, for the last row a page returned, its position and
its ``seq``; the page that asks for the next position starts after that ``seq`` (one index range
scan, whatever the position). A page reached by walking the index also leaves an anchor just
before its first row, so the same page asked again (a retry, a second reader) costs no walk.

An anchor holds only while the rows before it stay where they were. In creation order a new row
goes after every row there is, so only a deletion can move them: each anchor is keyed by the
organization's count of deletions (``counts.removed``) and forgotten as soon as one happens.
(Concurrent modifications may still shift a reader's positions, as RFC 7644 §3.4.2.4 allows; an
anchor then continues after the last row the reader was given, which is what a reader wants.)

One bounded table per process, used from its event loop only; a request that lands on another
process (or after eviction) just pays for its offset once.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_ANCHORS = 4096

Key = tuple[str, str, int, int]  # org, resource type, deletions so far, 1-based position


class Anchors:
    def __init__(self, size: int = MAX_ANCHORS):
        self.size = size
        self._table: OrderedDict[Key, int] = OrderedDict()

    def seq_at(self, org_id: str, resource_type: str, removed: int, position: int) -> int | None:
        """The ``seq`` of the row at ``position``, if a page ended there since the last deletion."""
        key = (org_id, resource_type, removed, position)
        seq = self._table.get(key)
        if seq is not None:
            self._table.move_to_end(key)
        return seq

    def remember(self, org_id: str, resource_type: str, removed: int, position: int, seq: int) -> None:
        key = (org_id, resource_type, removed, position)
        self._table[key] = seq
        self._table.move_to_end(key)
        while len(self._table) > self.size:
            self._table.popitem(last=False)


ANCHORS = Anchors()
