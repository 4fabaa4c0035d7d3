"""Measuring a phase of load: N client coroutines, warm-up, duration or request count, latency
percentiles, and the CPU the load generator and the service used meanwhile."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(round(pct / 100.0 * len(sorted_values) + 0.4999999)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class PhaseResult:
    name: str
    clients: int
    requests: int = 0
    successes: int = 0
    errors: dict = field(default_factory=dict)  # status (or exception name) -> count
    elapsed_s: float = 0.0
    latencies_ms: list = field(default_factory=list)
    warmup_requests: int = 0
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {
            "name": self.name,
            "clients": self.clients,
            "requests": self.requests,
            "successes": self.successes,
            "errors": dict(sorted(self.errors.items(), key=lambda kv: str(kv[0]))),
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "success_rps": round(self.success_rate, 1),
            "latency_ms": {
                "p50": _r(percentile(lat, 50)),
                "p90": _r(percentile(lat, 90)),
                "p99": _r(percentile(lat, 99)),
                "max": _r(lat[-1] if lat else None),
                "mean": _r(sum(lat) / len(lat) if lat else None),
            },
            "warmup_requests_excluded": self.warmup_requests,
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Outcome:
    """What one request produced: its status (int, or an exception name) and whether it counts."""

    __slots__ = ("status", "ok")

    def __init__(self, status, ok: bool):
        self.status = status
        self.ok = ok


async def run_phase(
    name: str,
    clients: int,
    op,
    *,
    duration: float | None,
    requests: int | None,
    warmup: float,
    log,
    should_stop=None,
) -> PhaseResult:
    """Run ``op(client_index)`` from ``clients`` coroutines: ``warmup`` seconds unmeasured, then
    ``requests`` requests or ``duration`` seconds measured. ``op`` returns an ``Outcome``; it may
    raise ``StopIteration``-like ``Exhausted`` to end a client early (a bounded pool ran dry)."""
    result = PhaseResult(name, clients)
    loop_clock = time.perf_counter
    start = loop_clock()
    measure_start = start + warmup
    measure_end = measure_start + duration if requests is None else None
    issued = 0  # measured requests started (for --requests)
    last_done = measure_start
    exhausted = False

    async def client(index: int) -> None:
        nonlocal issued, last_done, exhausted
        while True:
            now = loop_clock()
            measured = now >= measure_start
            if measured:
                if requests is not None:
                    if issued >= requests:
                        return
                    issued += 1
                elif now >= measure_end:
                    return
            if should_stop is not None and should_stop():
                return
            t0 = loop_clock()
            try:
                outcome = await op(index)
            except Exhausted:
                exhausted = True
                if measured and requests is not None:
                    issued -= 1
                return
            except asyncio.TimeoutError:
                outcome = Outcome("timeout", False)
            except aiohttp.ClientError as error:
                outcome = Outcome(type(error).__name__, False)
            t1 = loop_clock()
            if not measured:
                result.warmup_requests += 1
                continue
            result.requests += 1
            result.latencies_ms.append((t1 - t0) * 1000.0)
            if outcome.ok:
                result.successes += 1
            else:
                result.errors[outcome.status] = result.errors.get(outcome.status, 0) + 1
            if t1 > last_done:
                last_done = t1

    log(f"[{name}] {clients} clients, warm-up {warmup:g}s, then "
        + (f"{requests} requests" if requests is not None else f"{duration:g}s"))
    probe = CPU_PROBE
    service_start = probe.snapshot() if probe else {}
    cpu_start, wall_start = time.process_time(), loop_clock()
    await asyncio.gather(*(client(i) for i in range(clients)))
    cpu, wall = time.process_time() - cpu_start, loop_clock() - wall_start
    if probe:
        service_end = probe.snapshot()
        result.extra["service_cpu_percent_of_one_core"] = {
            label: round(100.0 * (service_end[label] - service_start.get(label, 0.0)) / wall, 1)
            for label in sorted(service_end) if wall > 0
        }
    result.elapsed_s = max(0.0, last_done - measure_start)
    # The load generator shares the machine's cores with the service: say how much it used.
    result.extra["loadgen_cpu_percent_of_one_core"] = round(100.0 * cpu / wall, 1) if wall > 0 else None
    if exhausted:
        result.notes.append("stopped early: the pool of distinct seeded users ran out (raise --seed)")
    return result


class CpuProbe:
    """CPU seconds used so far by a started service's process tree (ingress, worker, embedded Redis),
    by role; empty without psutil. A shared PostgreSQL or Redis server is not in the tree."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self._seen: dict = {}  # pid -> (label, last cpu seconds): exited children keep their last value

    @staticmethod
    def _label(cmdline: list[str]) -> str:
        text = " ".join(cmdline)
        if "redis-server" in text:
            return "redis"
        if "bench.compare.peer" in text:
            return "scim2-server"
        if " worker" in text:
            return "worker"
        if " run " in text or " serve" in text:
            return "ingress"
        return "other"

    def memory_mb(self) -> list[dict]:
        """Resident memory (RSS) of each process of the tree now: ``[{process, pid, rss_mb}]``."""
        try:
            import psutil
        except ImportError:
            return []
        try:
            root = psutil.Process(self.root_pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return []
        found = []
        for proc in procs:
            try:
                found.append({"process": self._label(proc.cmdline()), "pid": proc.pid,
                              "rss_mb": round(proc.memory_info().rss / 2**20, 1)})
            except psutil.Error:
                continue
        return found

    def snapshot(self) -> dict:
        try:
            import psutil
        except ImportError:
            return {}
        try:
            root = psutil.Process(self.root_pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            procs = []
        for proc in procs:
            try:
                times = proc.cpu_times()
                label = self._seen.get(proc.pid, (None,))[0] or self._label(proc.cmdline())
                self._seen[proc.pid] = (label, times.user + times.system)
            except psutil.Error:
                continue
        totals: dict = {}
        for label, seconds in self._seen.values():
            totals[label] = totals.get(label, 0.0) + seconds
        return totals


# The process tree whose CPU ``run_phase`` reports (set by whoever started the service).
CPU_PROBE: CpuProbe | None = None


class Exhausted(Exception):
    """A client's source of distinct work items ran out."""
