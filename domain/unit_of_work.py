"""The unit of work: one transaction over the store's ports, committed only with its audit events.

A service opens it (``with uow:``), changes the store through its ports, ``record``s the audit
event of what it did, and ``commit``s; leaving the block without committing rolls everything
back. A unit of work refuses to commit (``UnrecordedChange``) a change after which no event was
recorded, so a change cannot be written without its audit event by accident. Leaving the block
is reusable: every ``with`` is a new transaction.

``infra.store.unit_of_work.SqlUnitOfWork`` is the SQL one (it also owns the command ledger and
the outbox relay for the worker and the ingress's fence); the unit tests use
``tests.unit.fakes.FakeUnitOfWork``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from domain.events import AuditEvent
    from domain.management_views import ManagementViews
    from domain.operators import OperatorStore
    from domain.organizations import OrganizationStore, TokenStore
    from domain.provisioning import TeamStore, UserStore


class UnrecordedChange(RuntimeError):
    """A change was about to be committed (or left behind) without an audit event recorded after it."""


class UnitOfWork(Protocol):
    # Read-only (properties), so that an adapter may hold its own store classes.
    @property
    def users(self) -> UserStore: ...
    @property
    def teams(self) -> TeamStore: ...
    @property
    def organizations(self) -> OrganizationStore: ...
    @property
    def tokens(self) -> TokenStore: ...
    @property
    def views(self) -> ManagementViews: ...
    @property
    def operators(self) -> OperatorStore: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

    def record(self, event: AuditEvent) -> None:
        """The audit event of what was just changed: written to the outbox in the same transaction."""
        ...

    def commit(self) -> object:
        """Commit the changes with their events; raises ``UnrecordedChange`` if a change has none."""
        ...
