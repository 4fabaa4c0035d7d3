from __future__ import annotations

import pytest

from tests.support.scimgate_run import backend_env
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One running scimgate (ingress + worker + store + Redis) shared by the e2e tests.

    Tests isolate themselves by organization: each creates its own with ``stack.new_org()``.
    """
    running = Stack(tmp_path_factory.mktemp("stack")).start()
    yield running
    running.stop()


@pytest.fixture
def org(stack):
    return stack.new_org()


@pytest.fixture
def scim(stack, org):
    with stack.scim(org) as client:
        yield client


@pytest.fixture
def backend():
    """The backend under test for a `scimgate run` of its own (empty: the embedded default)."""
    env, cleanup = backend_env()
    yield env
    cleanup()
