"""The store ports' contract, one suite for every adapter (in the spirit of scim2-server's
``ScimStorageContract``): each test runs against the in-memory fakes the unit tests use and against
the SQL adapters on the backend under test (SQLite here; PostgreSQL when
``SCIMGATE_TEST_DATABASE_URL`` names one — CI runs both), so a fake can never drift from what the
store really does."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Callable, ContextManager

import pytest

from domain.organizations import OrganizationStore, TokenStore
from domain.provisioning import TeamStore, UserStore
from infra.store.organizations import SqlOrganizations, SqlTokens
from infra.store.repositories import SqlTeams, SqlUsers
from tests.unit.fakes import FakeOrganizations, FakeTokens, Writes, fake_stores


@dataclass
class Ports:
    users: UserStore
    teams: TeamStore
    orgs: OrganizationStore
    tokens: TokenStore
    # A refused write leaves the rest of the transaction usable only inside a savepoint (the
    # worker gives every command one); the fakes need none.
    attempt: Callable[[], ContextManager]


def _fakes() -> Ports:
    writes = Writes()
    users, teams = fake_stores(writes)
    return Ports(users, teams, FakeOrganizations(writes), FakeTokens(writes), contextlib.nullcontext)


@pytest.fixture(params=["fake", "sql"])
def ports(request) -> Iterator[Ports]:
    if request.param == "fake":
        yield _fakes()
        return
    engine = request.getfixturevalue("sync_engine")
    with engine.connect() as conn:
        transaction = conn.begin()
        yield Ports(SqlUsers(conn), SqlTeams(conn), SqlOrganizations(conn), SqlTokens(conn), conn.begin_nested)
        transaction.rollback()
