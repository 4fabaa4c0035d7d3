"""Which waiting commands go into the next batch: in order per resource, fairly across tenants.

Pure bookkeeping, no I/O (the dispatcher owns the event loop and Redis). Rules:

- **Order per resource.** Every command has an ordering key (``Command.ordering_key``: the
  resource it touches, or the name a create claims). While a command for a key is in flight,
  later commands for that key wait; several commands for one key may share a batch (the worker
  applies a batch in order). A command taken back from a lost worker still holds its key
  (``Flight.holds_key``), so it goes before the later ones.
- **Fair across organizations.** Each organization has its own queue; a batch takes one command
  from each organization in turn, so an organization that queues thousands of writes (an
  initial sync) cannot push another organization's write behind them.
- **Suspects travel alone, one at a time.** A command whose worker died while holding it goes in
  a batch by itself, and only while no other suspect is in flight, so a command that crashes
  workers takes nobody else with it and the blame for the next crash is clear.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from domain.commands import Command

PENDING = "pending"  # waiting to be taken into a batch
SENT = "sent"  # in a published batch
DONE = "done"  # decided; its request has its answer
DROPPED = "dropped"  # its request stopped waiting before it was sent


@dataclass(eq=False)
class Flight:
    """One submitted command on its way: the request awaits ``result``."""

    command: Command
    payload: Any  # the encoded command (what the batch message carries)
    result: Any  # an asyncio.Future[Reply] the request awaits
    state: str = PENDING
    batch: Any = None
    holds_key: bool = False  # counted as holding its ordering key (since its first batch)
    resubmitted: bool = False  # taken back from a lost worker: goes alone in its next batch
    losses: int = 0  # how many times a worker died while holding it
    lock: Any = None

    @property
    def key(self) -> str:
        return self.command.ordering_key


@dataclass
class Schedule:
    batch_max: int
    _queues: OrderedDict = field(default_factory=OrderedDict)  # org id → deque[Flight]
    _busy: dict = field(default_factory=dict)  # ordering key → flights holding it

    def push(self, flight: Flight) -> None:
        self._queues.setdefault(flight.command.org_id, deque()).append(flight)

    def push_front(self, flights: list[Flight]) -> None:
        """Put flights back at the head of their organizations' queues, keeping their order."""
        for flight in reversed(flights):
            self._queues.setdefault(flight.command.org_id, deque()).appendleft(flight)

    def waiting(self, org_id: str) -> int:
        queue = self._queues.get(org_id)
        return len(queue) if queue else 0

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def busy(self, key: str) -> int:
        return self._busy.get(key, 0)

    def take(self, *, allow_suspect: bool = True) -> list[Flight]:
        """The next batch (possibly empty), marked as holding their keys: a suspect alone if one
        may go, otherwise commands of every organization in turn."""
        eligible: list[tuple[str, list[Flight]]] = []
        for org_id in list(self._queues):
            flights = self._eligible(org_id, allow_suspect)
            if flights and flights[0].resubmitted:
                return self._taken({org_id: [flights[0]]})
            if flights:
                eligible.append((org_id, flights))
        batch: dict[str, list[Flight]] = {}
        taken = 0
        depth = 0
        while taken < self.batch_max:
            progressed = False
            for org_id, flights in eligible:
                if depth < len(flights) and taken < self.batch_max:
                    batch.setdefault(org_id, []).append(flights[depth])
                    taken += 1
                    progressed = True
            if not progressed:
                break
            depth += 1
        if batch:
            # The organization served first this time is served last next time.
            self._queues.move_to_end(next(iter(batch)))
        return self._taken(batch)

    def _eligible(self, org_id: str, allow_suspect: bool) -> list[Flight]:
        """The organization's flights that may go now, in order: not behind an in-flight key."""
        queue = self._queues[org_id]
        while queue and queue[0].state != PENDING:
            queue.popleft()
        if not queue:
            del self._queues[org_id]
            return []
        keys_here: set[str] = set()
        flights: list[Flight] = []
        for flight in queue:
            if flight.state != PENDING:
                continue
            key = flight.key
            if flight.resubmitted:
                if allow_suspect and not flights:
                    return [flight]  # goes alone
                continue  # waits for its turn; later commands for its key wait behind it
            if key in self._busy and key not in keys_here and not flight.holds_key:
                continue  # waits for the batch holding its key
            keys_here.add(key)
            flights.append(flight)
            if len(flights) >= self.batch_max:
                break
        return flights

    def _taken(self, batch: dict[str, list[Flight]]) -> list[Flight]:
        out: list[Flight] = []
        for org_id, flights in batch.items():
            chosen = {id(flight) for flight in flights}
            queue = self._queues[org_id]
            self._queues[org_id] = deque(f for f in queue if id(f) not in chosen and f.state == PENDING)
            if not self._queues[org_id]:
                del self._queues[org_id]
            for flight in flights:
                if not flight.holds_key:
                    flight.holds_key = True
                    self._busy[flight.key] = self._busy.get(flight.key, 0) + 1
                out.append(flight)
        return out

    def release(self, flight: Flight) -> None:
        """A decided flight stops holding its key: later commands for the resource may go."""
        if not flight.holds_key:
            return
        flight.holds_key = False
        count = self._busy.get(flight.key, 0) - 1
        if count > 0:
            self._busy[flight.key] = count
        else:
            self._busy.pop(flight.key, None)
