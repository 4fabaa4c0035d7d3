"""The embedded Redis after a crash: replaced at once, with what it had acknowledged."""

from __future__ import annotations

import time

import redis

from infra.redis.embedded import EmbeddedRedis


def test_a_crashed_embedded_redis_is_replaced_at_once_and_keeps_its_data(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persistent=True).start()
    client = redis.Redis(unix_socket_path=str(server.socket))
    client.rpush("queued", "a command")
    server.process.kill()  # like the OOM killer: no shutdown, the socket file stays behind
    server.process.wait()
    assert server.socket.exists()

    started = time.monotonic()
    again = EmbeddedRedis(tmp_path / "redis", persistent=True).start()
    elapsed = time.monotonic() - started
    try:
        assert again.process is not None  # a new server, not the dead one taken for alive
        assert client.lrange("queued", 0, -1) == [b"a command"]  # replayed from its append-only file
        # The leftover socket is found dead with one try, not after the Redis client's retries
        # with back-off (seconds of writes refused while the service starts again).
        assert elapsed < 1.0, elapsed
    finally:
        client.close()
        again.stop()
