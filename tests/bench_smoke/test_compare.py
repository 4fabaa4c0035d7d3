"""The side-by-side harness runs end to end against both servers at a tiny size.

``python -m bench.compare`` as a user types it (100 users, Teams of 20 and 50 members, 1 s per
throughput workload): every workload gets figures from both servers, no request fails, the JSON
and the markdown table are written. Nothing about speed is asserted.
"""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.support.stack import REPO, TEST_DATABASE_URL, TEST_REDIS_URL

SIZE_WORKLOADS = ("lookups", "page at start", "page at middle", "page at end", "full read by index",
                  "full read by cursor", "creates", "entra first cycle")


def test_compare_runs_both_servers_end_to_end(tmp_path):
    out = tmp_path / "compare.json"
    backend = []
    if TEST_DATABASE_URL.startswith("postgresql"):
        backend = ["--database-url", TEST_DATABASE_URL, *(["--redis-url", TEST_REDIS_URL] if TEST_REDIS_URL else [])]
    run = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--sizes", "100", "--team-sizes", "20,50", "--duration", "1",
         "--warmup", "0.2", "--reps", "3", "--budget", "2", "--read-budget", "5", "--json-out", str(out),
         *backend],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    document = orjson.loads(out.read_bytes())
    at_100 = document["sizes"]["100"]
    for workload in SIZE_WORKLOADS:
        for server in ("scimgate", "scim2-server"):
            figures = at_100[workload][server]
            assert not figures.get("errors") and "error" not in figures, (workload, server, figures)
    assert at_100["full read by index"]["scimgate"]["complete"]
    assert at_100["full read by index"]["scimgate"]["users"] == at_100["full read by index"]["scim2-server"]["users"]
    assert at_100["full read by cursor"]["scimgate"]["complete"]
    assert "unsupported" in at_100["full read by cursor"]["scim2-server"]
    for team in ("20", "50"):
        for workload in ("add 100 members", "remove one member"):
            for server in ("scimgate", "scim2-server"):
                figures = document["teams"][team][workload][server]
                assert figures["n"] >= 1 and not figures["errors"], (team, workload, server, figures)
    processes = {p["process"] for p in document["memory"]["100"]["scimgate"]}
    assert {"ingress", "worker"} <= processes
    assert [p["process"] for p in document["memory"]["100"]["scim2-server"]] == ["scim2-server"]
    assert "| user creates | 100 users |" in run.stdout and "Cost against the data" in run.stdout
