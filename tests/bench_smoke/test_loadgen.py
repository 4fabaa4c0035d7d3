"""The load generator (``python -m bench.loadgen``) runs end to end at a tiny size, and every
request it sends succeeds; every member add answered 2xx is in the Group it reads back."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.support.stack import REPO, TEST_DATABASE_URL, TEST_REDIS_URL


def test_loadgen_runs_every_scenario(tmp_path):
    out = tmp_path / "loadgen.json"
    backend = []
    if TEST_DATABASE_URL.startswith("postgresql"):
        backend = ["--database-url", TEST_DATABASE_URL, *(["--redis-url", TEST_REDIS_URL] if TEST_REDIS_URL else [])]
    run = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--duration", "1", "--warmup", "0.2", "--seed", "50",
         "--member-users", "3000", "--json-out", str(out), *backend],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["name"]: r for r in orjson.loads(out.read_bytes())["results"]}
    assert set(results) == {"creates", "lookups", "members"}
    for result in results.values():
        assert result["requests"] > 0 and result["errors"] == {}, result
    members = results["members"]["extra"]
    assert members["acknowledged_but_missing"] == 0
    assert members["final_member_count"] == members["expected_members"]
