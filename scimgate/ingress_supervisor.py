"""The ingress children of ``scimgate run``: several processes serving one port, each restarted
when it exits.

The parent binds the listening socket once (so a taken port fails before anything starts, and a
second ``scimgate run`` on the same port fails too, which ``SO_REUSEPORT`` would let through) and
every child inherits it (``scimgate serve --inherit-socket FD``) and accepts on it, taking turns
through a board of their connection counts that the parent makes and hands each child
(``scimgate.accept_balance``), so an IdP's pool of connections spreads over all of them. Each
child is a complete ingress with its own reply inbox, dispatcher and watchdog (``infra.redis.dispatcher``), so a reply always reaches the process whose
request waits for it. A child that exits is started again (``ingress_exited_restarting``; backing
off 1 s doubling to 30 s while children keep dying young) and its metrics files are marked dead.

One long-lived thread starts, watches and stops every child: the parent-death signal of a child
(``infra.child_processes``) fires when the *thread* that forked it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from infra.child_processes import die_with_parent
from infra.config import Settings
from infra.logging import get_logger
from infra.metrics.exposition import mark_dead
from scimgate.connection_board import ConnectionBoard
from scimgate.worker_supervisor import BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_SECONDS, POLL_SECONDS, child_env

STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class _Slot:
    process: subprocess.Popen | None = None
    started: float = 0.0  # monotonic
    backoff: float = BACKOFF_FIRST
    next_start: float = 0.0  # monotonic; when a dead child may be started again


class IngressSupervisor:
    def __init__(self, settings: Settings, sock: socket.socket, count: int):
        self.settings = settings
        self.sock = sock
        self.slots = [_Slot() for _ in range(max(1, count))]
        self.board = ConnectionBoard.create(len(self.slots)) if len(self.slots) > 1 and hasattr(os, "memfd_create") else None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="ingress-supervisor", daemon=True)
        self._log = get_logger("scimgate.run")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop every child (SIGTERM: each drains its requests; SIGKILL after a timeout)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS + 5)

    def pids(self) -> list[int]:
        return [slot.process.pid for slot in self.slots if slot.process is not None]

    # -- the supervisor thread --------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            while True:
                for index, slot in enumerate(self.slots):
                    self._tend(index, slot)
                if self._stopping.wait(POLL_SECONDS):
                    return
        finally:
            self._stop_children()

    def _tend(self, index: int, slot: _Slot) -> None:
        now = time.monotonic()
        if slot.process is not None:
            code = slot.process.poll()
            if code is None:
                return
            mark_dead(slot.process.pid)
            if self.board is not None:
                self.board.retire(index)
            if now - slot.started >= BACKOFF_RESET_SECONDS:
                slot.backoff = BACKOFF_FIRST
            self._log.error("ingress_exited_restarting", pid=slot.process.pid, exit_code=code,
                            ingress=index, backoff_s=slot.backoff)
            slot.process, slot.next_start = None, now + slot.backoff
            slot.backoff = min(slot.backoff * 2, BACKOFF_MAX)
            return
        if now < slot.next_start:
            return
        try:
            slot.process = self._spawn(index)
            slot.started = now
        except OSError as error:
            self._log.error("ingress_start_failed", error=str(error), ingress=index, backoff_s=slot.backoff)
            slot.next_start = now + slot.backoff
            slot.backoff = min(slot.backoff * 2, BACKOFF_MAX)

    def _spawn(self, index: int) -> subprocess.Popen:
        fd = self.sock.fileno()
        command = [sys.executable, "-m", "scimgate", "serve", "--inherit-socket", str(fd)]
        fds: tuple[int, ...] = (fd,)
        if self.board is not None:
            command += ["--board", str(self.board.fd), "--slot", str(index)]
            fds += (self.board.fd,)
        return subprocess.Popen(
            command, env=child_env(self.settings), stdin=subprocess.DEVNULL, pass_fds=fds,
            # Its own process group: a Ctrl-C reaches `scimgate run`, which stops it in order.
            process_group=0, preexec_fn=die_with_parent(signal.SIGKILL),
        )

    def _stop_children(self) -> None:
        running = [slot.process for slot in self.slots if slot.process is not None and slot.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)  # aiohttp's graceful shutdown
            process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            mark_dead(process.pid)
