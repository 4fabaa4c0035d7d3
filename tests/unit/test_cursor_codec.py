"""RFC 9865 cursors: the signing key (a random secret shared through Redis unless one is
configured) and decoding, where anything but a cursor of ours for this listing is invalidCursor."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

import orjson
import pytest

from domain.listing import ListParams
from domain.errors import ExpiredCursor, InvalidCursor
from infra.redis.cursor_secret import CURSOR_SECRET_KEY, CursorKey
from infra.store.cursors import CursorCodec, Position
from infra.store.listing import Source
from domain.errors import Unavailable
from infra.config import Settings
from infra.store import queries
from infra.store.tables import users

KEY = b"k" * 32
PARAMS = ListParams(filter=None, start_index=1, count=10, sort_by=None, descending=False, cursor="")
SORTED = ListParams(filter=None, start_index=1, count=10, sort_by="userName", descending=False, cursor="")
PLAIN = [Source("User", None, queries.ordering(users))]
BY_NAME = [Source("User", None, queries.ordering(users, users.c.user_name_key))]


def codec(params=PARAMS, key=KEY, org="org1"):
    return CursorCodec(key, org, "Users", params, timeout=3600)


def signed(payload: dict, params=PARAMS, key=KEY) -> str:
    """A cursor with a correct MAC over an arbitrary payload (what only the key holder can make)."""
    raw = orjson.dumps(payload)
    mac = base64.urlsafe_b64encode(hmac.new(key, raw, hashlib.sha256).digest()[:16]).rstrip(b"=").decode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac


def good(**changes) -> dict:
    payload = {"o": "org1", "q": codec().binding, "p": 0, "k": [41], "b": 0, "t": 2_000_000_000}
    payload.update(changes)
    return payload


def test_a_cursor_round_trips():
    cursor = codec().encode(Position(0, [41], False))
    assert codec().decode(cursor, PLAIN) == Position(0, [41], False)
    moment = datetime(2026, 1, 2, 3, 4, 5)
    sorted_cursor = codec(SORTED).encode(Position(0, [0, moment, 7], True))
    assert codec(SORTED).decode(sorted_cursor, BY_NAME) == Position(0, [0, moment, 7], True)


def test_a_cursor_of_another_key_organization_or_listing_is_invalid():
    cursor = codec().encode(Position(0, [41], False))
    for other in (codec(key=b"x" * 32), codec(org="org2"), codec(SORTED)):
        with pytest.raises(InvalidCursor):
            other.decode(cursor, PLAIN)


@pytest.mark.parametrize("payload", [
    good(p="0"), good(p=True), good(p=1), good(p=-1), good(p=None),
    good(k="41"), good(k=[]), good(k=[41, 42]), good(k=["41"]), good(k=[True]), good(k=[41.5]),
    good(k=[{"dt": "yesterday"}]), good(k=[{"dt": 5}]), good(k=[{"x": 1}]), good(k=[[1]]),
    good(b=2), good(b="0"), good(b=None), good(t="now"), good(t=None), good(t=[1]),
    {k: v for k, v in good().items() if k != "p"}, {k: v for k, v in good().items() if k != "k"},
    {k: v for k, v in good().items() if k != "b"}, {k: v for k, v in good().items() if k != "t"},
    {k: v for k, v in good().items() if k != "o"}, [1, 2], "text", 5, None,
])
def test_a_well_signed_but_malformed_payload_is_invalid_cursor(payload):
    with pytest.raises(InvalidCursor):
        codec().decode(signed(payload), PLAIN)


@pytest.mark.parametrize("keys", [
    [0, {"dt": "not a date"}, 7], [0, {"dt": "2026-01-01T00:00:00+02:00"}, 7], [2, "a", 7], [0, "a", "7"],
    [0, "a", False], [0, ["a"], 7], [0, {"dt": "2026-01-01T00:00:00", "x": 1}, 7],
])
def test_a_well_signed_payload_with_bad_sort_keys_is_invalid_cursor(keys):
    with pytest.raises(InvalidCursor):
        codec(SORTED).decode(signed(good(q=codec(SORTED).binding, k=keys), SORTED), BY_NAME)


def test_a_well_signed_payload_that_is_not_json_is_invalid_cursor():
    raw = b"\xff\xfe not json"
    mac = base64.urlsafe_b64encode(hmac.new(KEY, raw, hashlib.sha256).digest()[:16]).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        codec().decode(base64.urlsafe_b64encode(raw).decode() + "." + mac, PLAIN)


@pytest.mark.parametrize("text", ["x", "a.b.c", "é.é", "eyJ9.é", "%%%.%%%", "a" * 3000 + ".b", ".", "\x00.\x00"])
def test_garbage_is_invalid_cursor(text):
    with pytest.raises(InvalidCursor):
        codec().decode(text, PLAIN)


def test_an_old_cursor_is_expired():
    with pytest.raises(ExpiredCursor):
        codec().decode(signed(good(t=1)), PLAIN)


# ------------------------------------------------------------------ the key


class FakeRedis:
    def __init__(self, fail: bool = False):
        self.data: dict[str, bytes] = {}
        self.fail = fail
        self.calls = 0

    async def set(self, key, value, nx=False):
        self.calls += 1
        if self.fail:
            raise ConnectionError("redis is down")
        if not (nx and key in self.data):
            self.data[key] = value.encode()

    async def get(self, key):
        self.calls += 1
        return self.data.get(key)


async def test_without_a_configured_secret_every_ingress_shares_one_random_key_from_redis():
    redis = FakeRedis()
    first = await CursorKey(Settings(cursor_secret=""), redis).get()
    second = await CursorKey(Settings(cursor_secret=""), redis).get()
    assert first == second and len(first) == 32
    assert len(redis.data[CURSOR_SECRET_KEY]) == 64  # 32 random bytes, hex
    # Not derivable from what anyone knows of the deployment (the old key was the store URL's hash).
    for guess in ("", "sqlite+aiosqlite:///.scimgate/scimgate.db"):
        assert first != hashlib.sha256(f"scimgate-cursor:{guess}".encode()).digest()
    assert await CursorKey(Settings(cursor_secret=""), FakeRedis()).get() != first  # another deployment


async def test_the_key_is_fetched_once_per_process():
    redis = FakeRedis()
    holder = CursorKey(Settings(cursor_secret=""), redis)
    await holder.get()
    calls = redis.calls
    await holder.get()
    assert redis.calls == calls


async def test_a_configured_secret_never_asks_redis():
    redis = FakeRedis(fail=True)
    key = await CursorKey(Settings(cursor_secret="s3cret"), redis).get()
    assert key == await CursorKey(Settings(cursor_secret="s3cret"), FakeRedis()).get()
    assert redis.calls == 0


async def test_without_redis_cursor_paging_is_503_and_recovers():
    redis = FakeRedis(fail=True)
    holder = CursorKey(Settings(cursor_secret=""), redis)
    with pytest.raises(Unavailable) as refused:
        await holder.get()
    assert refused.value.status == 503 and refused.value.headers["Retry-After"]
    redis.fail = False
    assert len(await holder.get()) == 32
