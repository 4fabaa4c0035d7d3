"""The long fault-injection run: minutes of writes from several organizations while workers,
ingresses, Redis and the store are killed, paused and brought back on a random schedule.

It starts a deployment of its own (``tests.support.deployment``: N ``scimgate serve`` and M
``scimgate worker`` processes, a private Redis with AOF, SQLite or a private PostgreSQL
cluster), drives it with the fault suite's load generator, and at the end checks everything
against the store and the audit stream with the suite's oracle (``tests.faults.oracle``). It
prints the report (availability overall and per fault, time to recover, latency, the oracle's
counts) and writes it as JSON to ``bench/results/``. It measures and reports; the exit status
says whether the oracle found a violation (1) or not (0).

    .venv/bin/python bench/faults.py --minutes 5 --backend embedded
    .venv/bin/python bench/faults.py --minutes 5 --backend postgres --ingresses 2 --workers 3

Only 127.0.0.1 and unix sockets under a fresh temporary directory are used; the machine's own
Redis and PostgreSQL are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.faults import scenario  # noqa: E402
from tests.faults.report import format_report  # noqa: E402
from tests.support.deployment import EMBEDDED, POSTGRES, Deployment  # noqa: E402

RESULTS = REPO / "bench" / "results"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the faults go on (default 5)")
    parser.add_argument("--backend", choices=(EMBEDDED, POSTGRES), default=EMBEDDED)
    parser.add_argument("--ingresses", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--clients", type=int, default=3, help="clients per organization")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's and the clients' randomness")
    parser.add_argument("--command-timeout", type=float, default=10.0,
                        help="SCIMGATE_COMMAND_TIMEOUT (default 10; production 25)")
    parser.add_argument("--reply-margin", type=float, default=2.0, help="SCIMGATE_REPLY_MARGIN (default 2)")
    parser.add_argument("--stale", type=float, default=3.0, help="SCIMGATE_WORKER_STALE_SECONDS (default 3)")
    parser.add_argument("--pace", type=float, default=0.02, help="mean pause between a client's requests (s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first fault")
    parser.add_argument("--json-out", type=Path, help="where to write the JSON (default: bench/results/…)")
    parser.add_argument("--keep", action="store_true", help="keep the deployment's directory (logs, store)")
    return parser.parse_args(argv)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    steps = scenario.random_schedule(
        rng, minutes=args.minutes, ingresses=args.ingresses, workers=args.workers,
        command_timeout=args.command_timeout, reply_margin=args.reply_margin, warmup=args.warmup,
    )
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-faults-"))
    print(f"deployment in {workdir}: {args.ingresses} ingresses, {args.workers} workers, {args.backend}; "
          f"{len(steps)} faults over ~{args.minutes} min", flush=True)
    started = time.time()
    deployment = Deployment(workdir, ingresses=args.ingresses, workers=args.workers, backend=args.backend,
                            command_timeout=args.command_timeout, reply_margin=args.reply_margin,
                            worker_stale_seconds=args.stale)
    try:
        with deployment:
            result = scenario.run(deployment, steps, orgs=args.orgs, clients=args.clients, seed=args.seed,
                                  warmup=args.warmup, pace=args.pace,
                                  progress=lambda line: print(f"  {time.time() - started:7.1f}s {line}", flush=True))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = result.report
    summary["schedule"] = [step.__dict__ for step in steps]
    summary["command"] = " ".join(["bench/faults.py", *(argv if argv is not None else sys.argv[1:])])
    summary["commit"] = _git_commit()
    summary["machine"] = {"cpus": os.cpu_count(), "loadavg_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()]}
    summary["wall_s"] = round(time.time() - started, 1)
    print(format_report(summary))
    out = args.json_out or RESULTS / f"faults-{args.backend}-{args.minutes:g}m-seed{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"JSON: {out}" + (f"; deployment kept in {workdir}" if args.keep else ""))
    return 0 if result.verdict.clean else 1


if __name__ == "__main__":
    sys.exit(main())
