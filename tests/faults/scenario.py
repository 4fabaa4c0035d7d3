"""A fault-injection run: load from several organizations, faults on a schedule, then the oracle.

``run(deployment, steps, …)`` starts the load, injects each step's fault in turn (from the
calling thread, which must outlive the deployment's Redis: the main thread), lets the service
settle after each, stops the load, waits until every command that might still be decided has
passed its deadline (plus margin) and the audit outbox has drained, and returns the oracle's
verdict with the report (``tests.faults.report``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from tests.faults import oracle, report
from tests.faults.load import LoadGenerator
from tests.support.deployment import Deployment

WORKER_KILL = "worker_kill"
INGRESS_KILL = "ingress_kill"
WORKER_PAUSE = "worker_pause"
REDIS_KILL = "redis_kill"
STORE_OUTAGE = "store_outage"
FAULT_KINDS = (WORKER_KILL, INGRESS_KILL, WORKER_PAUSE, REDIS_KILL, STORE_OUTAGE)
# After the load stops, a command still somewhere in the pipeline is decided by its deadline;
# wait this much past it before reading the store.
DECIDED_SLACK_SECONDS = 2.0


@dataclass
class Step:
    kind: str
    hold: float  # seconds between the fault and its repair
    settle: float  # seconds of load after the repair before the next step
    target: int | None = None  # which worker / ingress (None for Redis and the store)


@dataclass
class FaultRecord:
    kind: str
    target: int | None
    started: float  # wall clock: the fault took effect
    repaired: float = 0.0  # the repair began (process started, server started, lock released)
    ready: float = 0.0  # the repaired part is back (worker consuming, ingress serving, server up)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def inject(deployment: Deployment, step: Step, sleep=time.sleep) -> FaultRecord:
    """Commit ``step``'s fault, hold it, repair it; returns when the repaired part is back."""
    fault = {
        WORKER_KILL: (deployment.kill_worker, deployment.start_worker),
        INGRESS_KILL: (deployment.kill_ingress, deployment.start_ingress),
        WORKER_PAUSE: (deployment.pause_worker, deployment.resume_worker),
        REDIS_KILL: (deployment.kill_redis, deployment.start_redis),
        STORE_OUTAGE: (deployment.store_down, deployment.store_up),
    }
    commit, repair = fault[step.kind]
    args = () if step.target is None else (step.target,)
    commit(*args)
    record = FaultRecord(step.kind, step.target, started=time.time())
    sleep(step.hold)
    record.repaired = time.time()
    repair(*args)
    record.ready = time.time()
    return record


def ci_schedule(command_timeout: float, reply_margin: float) -> list[Step]:
    """Every kind of fault once, with time to recover in between (the short form)."""
    return [
        Step(WORKER_KILL, hold=1.0, settle=2.5, target=0),
        Step(INGRESS_KILL, hold=1.0, settle=2.5, target=0),
        Step(WORKER_PAUSE, hold=command_timeout + reply_margin + 1.0, settle=2.5, target=1),
        Step(REDIS_KILL, hold=1.5, settle=3.0),
        Step(STORE_OUTAGE, hold=2.0, settle=3.0),
    ]


def random_schedule(rng: random.Random, *, minutes: float, ingresses: int, workers: int,
                    command_timeout: float, reply_margin: float, warmup: float) -> list[Step]:
    """Faults of every kind in random order, holds and pauses until about ``minutes`` are used."""
    steps: list[Step] = []
    budget = minutes * 60 - warmup
    kinds = list(FAULT_KINDS)
    while True:
        if not kinds:
            kinds = list(FAULT_KINDS)
        kind = kinds.pop(rng.randrange(len(kinds)))
        settle = rng.uniform(4.0, 10.0)
        if kind == WORKER_PAUSE:
            hold = rng.uniform(command_timeout + reply_margin + 0.5, command_timeout + reply_margin + 4)
        elif kind == STORE_OUTAGE:
            hold = rng.uniform(0.5, min(command_timeout, 8.0))
        else:
            hold = rng.uniform(0.5, 4.0)
        target = (rng.randrange(workers) if kind in (WORKER_KILL, WORKER_PAUSE)
                  else rng.randrange(ingresses) if kind == INGRESS_KILL else None)
        cost = hold + settle + (3.0 if kind in (WORKER_KILL, INGRESS_KILL) else 0.5)  # restarts take a while
        if budget - cost < 0 and steps:
            return steps
        budget -= cost
        steps.append(Step(kind, hold=round(hold, 2), settle=round(settle, 2), target=target))


@dataclass
class Result:
    verdict: oracle.Verdict
    report: dict
    requests: list = field(default_factory=list)
    faults: list = field(default_factory=list)


def run(deployment: Deployment, steps: list[Step], *, orgs: int = 3, clients: int = 3, seed: int = 1,
        warmup: float = 2.0, pace: float = 0.02, progress=None) -> Result:
    organizations = [deployment.new_org() for _ in range(orgs)]
    # Long enough for a deadline, the margin and a fence waiting out a store outage.
    request_timeout = deployment.command_timeout + deployment.reply_margin + 45.0
    load = LoadGenerator(deployment.ingress_urls, organizations, clients_per_org=clients, seed=seed,
                         pace=pace, request_timeout=request_timeout).start()
    faults: list[FaultRecord] = []
    try:
        time.sleep(warmup)
        for number, step in enumerate(steps, 1):
            if progress:
                progress(f"[{number}/{len(steps)}] {step.kind} target={step.target} hold={step.hold}s")
            faults.append(inject(deployment, step))
            time.sleep(step.settle)
    finally:
        load.stop()
    requests = load.snapshot()
    if requests:
        last_deadline = max(r.sent for r in requests) + deployment.command_timeout + deployment.reply_margin
        time.sleep(max(0.0, last_deadline + DECIDED_SLACK_SECONDS - time.time()))
    drained = deployment.wait_outbox_drained(timeout=60.0)
    store = oracle.read_store(deployment.engine, [org.id for org in organizations])
    events = deployment.audit_events()
    verdict = oracle.check(requests, store, events, command_timeout=deployment.command_timeout,
                           reply_margin=deployment.reply_margin)
    summary = report.summarize(requests, faults, started=load.started_at, ended=load.stopped_at)
    summary["outbox_drained"] = drained
    summary["oracle"] = verdict.to_dict()
    summary["settings"] = {
        "backend": deployment.backend, "ingresses": deployment.ingresses, "workers": deployment.workers,
        "orgs": orgs, "clients_per_org": clients, "seed": seed, "command_timeout": deployment.command_timeout,
        "reply_margin": deployment.reply_margin, "worker_stale_seconds": deployment.worker_stale_seconds,
        "pace": pace,
    }
    return Result(verdict, summary, requests, faults)
