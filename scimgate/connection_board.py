"""The connection counts of ``scimgate run``'s ingress processes, in memory they all share: one
slot per process, written by its own process (``scimgate.accept_balance``) and read by its
siblings to take turns at new connections. The supervisor makes it (a Linux memfd handed to each
child) and marks a dead child's slot retired, as a stopping child marks its own, so no sibling
waits on it.
"""

from __future__ import annotations

import mmap
import os
import struct

_SLOT = struct.Struct("<q")
RETIRED = 2**62  # a slot whose process is gone: holds "more than anyone", so nobody yields to it


def my_turn(mine: int, siblings: list[int]) -> bool:
    """Whether a process holding ``mine`` connections takes the next one at once: unless a
    sibling holds fewer."""
    return not siblings or mine <= min(siblings)


class ConnectionBoard:
    """One count of held connections per ingress process, in memory shared by all of them; a
    process's own ``slot`` (None for the supervisor, which only retires slots)."""

    def __init__(self, fd: int, slot: int | None = None):
        size = os.fstat(fd).st_size
        self.fd = fd
        self._slots = size // _SLOT.size
        if slot is not None and not 0 <= slot < self._slots:
            raise ValueError(f"slot {slot} is not on a board of {self._slots}")
        self._memory = mmap.mmap(fd, size)
        self._slot = slot
        if slot is not None:
            self.publish(0)

    @classmethod
    def create(cls, slots: int) -> "ConnectionBoard":
        """A new board (Linux's memfd, to hand to each child), every slot retired until its
        process starts."""
        fd = os.memfd_create("scimgate-ingress-connections", 0)
        os.ftruncate(fd, slots * _SLOT.size)
        board = cls(fd)
        for slot in range(slots):
            board.retire(slot)
        return board

    def publish(self, held: int) -> None:
        assert self._slot is not None, "the supervisor's view has no slot of its own"
        _SLOT.pack_into(self._memory, self._slot * _SLOT.size, held)

    def siblings(self) -> list[int]:
        return [_SLOT.unpack_from(self._memory, index * _SLOT.size)[0]
                for index in range(self._slots) if index != self._slot]

    def retire(self, slot: int) -> None:
        _SLOT.pack_into(self._memory, slot * _SLOT.size, RETIRED)

    def retire_own(self) -> None:
        """This process takes no more connections (it is stopping)."""
        assert self._slot is not None, "the supervisor's view has no slot of its own"
        self.retire(self._slot)
