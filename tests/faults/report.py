"""What a fault run measured: availability overall and per fault, time to recover, latency.

- **availability**: the share of write requests answered 2xx (of those sent: refused and
  unknown count as not available);
- per fault, its **window** runs from the fault to the moment the repaired part is back
  (``FaultRecord.ready``); the requests *sent* in it give the window's availability;
- **time to recover**: from that moment to the first 2xx write answered afterwards through the
  affected path (that ingress for an ingress fault; any ingress otherwise); ``None`` if no write
  succeeded before the next fault (or the end of the load);
- **caught**: the writes in flight when the fault struck (sent after the previous fault was
  repaired: older ones belong to that fault), with their outcomes and the slowest answer among
  them (a killed worker should cost its commands seconds, not the deadline);
- **longest gap**: the longest time without any 2xx answer from the fault to its recovery.
"""

from __future__ import annotations

from collections import Counter

from tests.faults.load import OK, Request

INGRESS_KILL = "ingress_kill"


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def _outcomes(requests: list[Request]) -> dict:
    counts = Counter(str(r.status) if r.status is not None else r.outcome for r in requests)
    return dict(sorted(counts.items()))


def _availability(requests: list[Request]) -> float | None:
    return round(sum(r.outcome == OK for r in requests) / len(requests), 4) if requests else None


def summarize(requests: list[Request], faults: list, *, started: float, ended: float) -> dict:
    answered = [r for r in requests if r.answered]
    oks = sorted((r for r in answered if r.outcome == OK), key=lambda r: r.answered)
    summary = {
        "requests": len(requests),
        "duration_s": round(ended - started, 1),
        "outcomes": _outcomes(requests),
        "ops": dict(Counter(r.op for r in requests)),
        "availability": _availability(requests),
        "latency_ms": {
            "p50": _ms(percentile([r.latency for r in answered], 50)),
            "p99": _ms(percentile([r.latency for r in answered], 99)),
            "ok_p50": _ms(percentile([r.latency for r in oks], 50)),
            "ok_p99": _ms(percentile([r.latency for r in oks], 99)),
            "max": _ms(max((r.latency for r in answered), default=None)),
        },
        "faults": [],
    }
    for index, fault in enumerate(faults):
        horizon = faults[index + 1].started if index + 1 < len(faults) else ended
        previous = faults[index - 1].ready if index else started
        summary["faults"].append(_fault_summary(fault, requests, oks, previous, horizon))
    return summary


def _fault_summary(fault, requests: list[Request], oks: list[Request], previous: float, horizon: float) -> dict:
    in_window = [r for r in requests if fault.started <= r.sent < fault.ready]
    caught = [r for r in requests
              if previous <= r.sent < fault.started and (not r.answered or r.answered > fault.started)]
    through = [r for r in oks if r.answered >= fault.ready and r.answered <= horizon
               and (fault.kind != INGRESS_KILL or r.ingress == fault.target)]
    recover = through[0].answered - fault.ready if through else None
    # The longest stretch without a 2xx answer, from the fault until it had recovered.
    until = fault.ready + recover if recover is not None else horizon
    moments = [fault.started, *(r.answered for r in oks if fault.started < r.answered < until), until]
    gap = max((b - a for a, b in zip(moments, moments[1:])), default=0.0)
    return {
        "kind": fault.kind,
        "target": fault.target,
        "at_s": round(fault.started, 3),
        "held_s": round(fault.repaired - fault.started, 2),
        "restore_s": round(fault.ready - fault.repaired, 2),
        "window_requests": len(in_window),
        "window_availability": _availability(in_window),
        "window_outcomes": _outcomes(in_window),
        "caught": len(caught),
        "caught_outcomes": _outcomes(caught),
        "caught_max_latency_s": round(max((r.latency for r in caught if r.answered), default=0.0), 2),
        "recover_s": None if recover is None else round(recover, 3),
        "longest_gap_s": round(gap, 2),
    }


def format_report(summary: dict) -> str:
    lines = []
    settings = summary.get("settings", {})
    if settings:
        lines.append("fault run: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    latency = summary["latency_ms"]
    lines.append(
        f"requests {summary['requests']} in {summary['duration_s']} s, availability "
        f"{_pct(summary['availability'])}, latency p50 {latency['p50']} ms p99 {latency['p99']} ms "
        f"(2xx p50 {latency['ok_p50']} p99 {latency['ok_p99']}, max {latency['max']})"
    )
    lines.append(f"outcomes {summary['outcomes']}  ops {summary['ops']}")
    lines.append(f"{'fault':<13} {'target':>6} {'held':>6} {'restore':>7} {'window':>7} {'avail':>7} "
                 f"{'caught':>6} {'slowest':>7} {'recover':>8} {'gap':>6}  window outcomes")
    for f in summary["faults"]:
        recover = "never" if f["recover_s"] is None else f"{f['recover_s']:.2f}s"
        lines.append(
            f"{f['kind']:<13} {str(f['target'] if f['target'] is not None else '-'):>6} {f['held_s']:>5.1f}s "
            f"{f['restore_s']:>6.1f}s {f['window_requests']:>7} {_pct(f['window_availability']):>7} "
            f"{f['caught']:>6} {f['caught_max_latency_s']:>6.1f}s {recover:>8} {f['longest_gap_s']:>5.1f}s  "
            f"{f['window_outcomes']}"
        )
    oracle = summary.get("oracle")
    if oracle:
        lines.append("oracle: " + ", ".join(f"{k}={v}" for k, v in oracle["violations"].items()))
        lines.append("checked: " + ", ".join(f"{k}={v}" for k, v in oracle["checked"].items()))
        for category, examples in oracle.get("examples", {}).items():
            for example in examples[:3]:
                lines.append(f"  {category}: {example}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
