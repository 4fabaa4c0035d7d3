"""The short fault-injection run (CI): two ingresses and two workers on one store and a private
Redis, writes from three organizations, and every kind of fault once — a worker killed, an
ingress killed, a worker paused past the deadline, Redis killed, the store down — each repaired
before the next. Afterwards the oracle (``tests.faults.oracle``) must find nothing: no
acknowledged write lost, none applied twice, none applied after an error, exactly one audit
event per applied command, no 500. The long form is ``bench/faults.py``.

Deadlines are short (3 s, margin 1 s, a worker stale after 1.5 s) so the run stays short; the
bounds asserted are about behaviour (writes succeed again after every fault), not speed.
"""

from __future__ import annotations

from tests.faults import scenario
from tests.faults.report import format_report
from tests.support.deployment import Deployment

COMMAND_TIMEOUT = 3.0
REPLY_MARGIN = 1.0
# Writes must succeed again this soon after each repaired fault (generous: a liveness bound).
RECOVERY_BOUND_SECONDS = 10.0


def test_no_fault_loses_doubles_or_misreports_a_write(tmp_path):
    deployment = Deployment(tmp_path / "deployment", ingresses=2, workers=2, command_timeout=COMMAND_TIMEOUT,
                            reply_margin=REPLY_MARGIN, worker_stale_seconds=1.5)
    with deployment:
        result = scenario.run(deployment, scenario.ci_schedule(COMMAND_TIMEOUT, REPLY_MARGIN), orgs=3, clients=3,
                              seed=10)
    summary = result.report
    print(format_report(summary))

    assert result.verdict.violations == {name: 0 for name in result.verdict.violations}, result.verdict.to_dict()
    assert summary["outbox_drained"]
    # The load really ran through every fault, and every fault was survived.
    assert sum(r.outcome == "ok" for r in result.requests) >= 200, summary["outcomes"]
    assert [f["kind"] for f in summary["faults"]] == list(scenario.FAULT_KINDS)
    for fault in summary["faults"]:
        assert fault["recover_s"] is not None and fault["recover_s"] < RECOVERY_BOUND_SECONDS, fault
