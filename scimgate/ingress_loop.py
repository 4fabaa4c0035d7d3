"""An ingress process's event loop: the application served on a listening socket until SIGTERM or
SIGINT, then drained, as aiohttp's ``run_app`` does it, but through ``accept_balance``'s site so
sibling processes on the same socket take turns at new connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web

from api.app import create_app
from infra.config import Settings
from scimgate.accept_balance import SharedSocketSite
from scimgate.connection_board import ConnectionBoard


def run(settings: Settings, sock: socket.socket, board: ConnectionBoard | None = None) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional off Linux/macOS
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # handle_signals: SIGTERM and SIGINT raise GracefulExit inside the loop.
    runner = web.AppRunner(create_app(settings), handle_signals=True, access_log=None)
    main = loop.create_task(_serve(runner, sock, board))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()  # its cleanup: stop accepting, finish the requests in flight, close the app
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(runner: web.AppRunner, sock: socket.socket, board: ConnectionBoard | None) -> None:
    await runner.setup()
    try:
        await SharedSocketSite(runner, sock, board).start()
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()
