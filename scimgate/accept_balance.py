"""Ingress processes sharing one listening socket take turns at new connections.

With one accept queue shared by several processes, the kernel wakes each waiting process on a new
connection and the first to call ``accept`` gets it; asyncio's server then accepts every
connection already queued in one go. An identity provider opens its pool of keep-alive
connections at once (Okta and Entra hold a handful to a few dozen), so one process usually took
most of them and kept them, saturating one core while the other idled: on the 2-core bench
machine, 16 connections split 13/3 as often as 8/8, and lookups ran at 380/s instead of 650/s.

So each ingress process accepts by itself, one connection at a time, and publishes how many it
holds on a board shared with its siblings (``scimgate.connection_board``: a small shared memory
the supervisor hands each child, one slot per child). A process whose count is above the fewest
of its siblings lets a waiting connection sit for ``YIELD_SECONDS`` first, so a sibling with
fewer takes it; if none does (it is busy, or stopped), the process takes it after all: a
connection never waits longer than that for lack of balance. A process that stops accepting
retires its slot, so no sibling waits for it. A process on its own (``scimgate serve``) has no
board.
"""

from __future__ import annotations

import asyncio
import os
import socket

from aiohttp import web

from infra.logging import get_logger
from scimgate.connection_board import ConnectionBoard, my_turn

log = get_logger(__name__)

YIELD_SECONDS = 0.002
REFRESH_SECONDS = 0.05  # how often a process republishes its count (connections also close)
ACCEPT_ERROR_PAUSE_SECONDS = 0.1  # out of file descriptors, say: try again shortly


class SharedSocketSite(web.SockSite):
    """An aiohttp site on a listening socket shared with sibling processes: accepts one
    connection at a time, yielding to a sibling that holds fewer (``my_turn``)."""

    __slots__ = ("_board", "_tasks")

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, board: ConnectionBoard | None, **kwargs):
        super().__init__(runner, sock, **kwargs)
        self._board = board
        self._tasks: list[asyncio.Task] = []

    def _held(self) -> int:
        server = self._runner.server
        return len(server.connections) if server is not None else 0

    async def start(self) -> None:
        self._runner._reg_site(self)  # what BaseSite.start does; no asyncio server is made
        self._sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._accept_forever())]
        log.info("ingress_accepting", pid=os.getpid(), shares_turns=self._board is not None)
        if self._board is not None:
            self._tasks.append(loop.create_task(self._publish_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._board is not None:
            self._board.retire_own()
        await super().stop()

    async def _publish_forever(self) -> None:
        assert self._board is not None
        while True:
            self._board.publish(self._held())
            await asyncio.sleep(REFRESH_SECONDS)

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self._sock.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        while True:
            await self._readable()
            if self._board is not None:
                held = self._held()
                self._board.publish(held)
                if not my_turn(held, self._board.siblings()):
                    await asyncio.sleep(YIELD_SECONDS)
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # a sibling took it
            except OSError as error:
                log.warning("accept_failed", error=str(error))
                await asyncio.sleep(ACCEPT_ERROR_PAUSE_SECONDS)
                continue
            try:
                conn.setblocking(False)
                if conn.family in (socket.AF_INET, socket.AF_INET6):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.connect_accepted_socket(server, conn, ssl=self._ssl_context)
            except Exception as error:  # the peer went away already, say
                log.info("accepted_connection_dropped", error=str(error))
                conn.close()
                continue
            if self._board is not None:
                self._board.publish(self._held())
