"""The load generator's table and ratios."""

from __future__ import annotations

from bench.loadgen.measure import PhaseResult, _r, percentile

# ARCHITECTURE.md, "Throughput": as many durable creates/s as the fastest in-memory SCIM server.
TARGET_CREATES_PER_S = 1200.0
TARGET_CLIENTS = 16


def _fmt(value, width: int, digits: int = 1) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.{digits}f}".rjust(width)
    return str(value).rjust(width)


def print_table(results: list[PhaseResult], out) -> None:
    header = (f"{'phase':<34}{'clients':>8}{'requests':>10}{'ok':>9}{'errors':>8}{'req/s':>9}{'ok/s':>9}"
              f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'gen cpu%':>9}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for result in results:
        s = result.summary()
        lat = s["latency_ms"]
        print(f"{s['name'][:33]:<34}{s['clients']:>8}{s['requests']:>10}{s['successes']:>9}"
              f"{sum(s['errors'].values()):>8}{_fmt(s['throughput_rps'], 9)}{_fmt(s['success_rps'], 9)}"
              f"{_fmt(lat['p50'], 9)}{_fmt(lat['p90'], 9)}{_fmt(lat['p99'], 9)}{_fmt(lat['max'], 9)}"
              f"{_fmt(s.get('extra', {}).get('loadgen_cpu_percent_of_one_core'), 9, 0)}", file=out)
    for result in results:
        s = result.summary()
        if s["errors"]:
            detail = ", ".join(f"{status}: {count}" for status, count in s["errors"].items())
            print(f"  {s['name']}: errors by status: {detail}", file=out)
        for note in s["notes"]:
            print(f"  {s['name']}: {note}", file=out)
        cpu = s.get("extra", {}).get("service_cpu_percent_of_one_core")
        if cpu:
            print(f"  {s['name']}: service CPU (% of one core, 2 cores = 200%): "
                  + ", ".join(f"{label} {pct:.0f}%" for label, pct in cpu.items())
                  + f"; load generator {s['extra'].get('loadgen_cpu_percent_of_one_core', 0):.0f}%", file=out)
        if "extra" in s and s["name"].startswith("members"):
            e = s["extra"]
            print(f"  {s['name']}: adds 2xx {e['adds_acknowledged']}, removes 2xx {e['removes_acknowledged']}, "
                  f"expected members {e['expected_members']}, final members (GET /Groups) "
                  f"{e.get('final_member_count')}, acknowledged but missing {e.get('acknowledged_but_missing')}",
                  file=out)


def ratios(results: list[PhaseResult], args) -> dict:
    out: dict = {}
    by_name = {r.name: r for r in results}
    creates = by_name.get("creates")
    if creates is not None:
        out["creates_vs_target"] = {
            "successes_per_s": round(creates.success_rate, 1),
            "target_per_s": TARGET_CREATES_PER_S,
            "target_clients": TARGET_CLIENTS,
            "clients": creates.clients,
            "ratio": round(creates.success_rate / TARGET_CREATES_PER_S, 3),
        }
    members = by_name.get("members")
    if members is not None:
        out["member_changes_per_s"] = round(members.success_rate, 1)
    for small_name, large_name, key in (("lookups@small", "lookups@large", "scale_lookups"),
                                        ("members@small", "members@large", "scale_members")):
        small, large = by_name.get(small_name), by_name.get(large_name)
        if small is None or large is None:
            continue
        s_lat, l_lat = sorted(small.latencies_ms), sorted(large.latencies_ms)
        entry = {
            "small_size": small.extra.get("tenant_users_sampled_from", small.extra.get("initial_members")),
            "large_size": large.extra.get("tenant_users_sampled_from", large.extra.get("initial_members")),
        }
        for pct in (50, 90, 99):
            a, b = percentile(s_lat, pct), percentile(l_lat, pct)
            entry[f"p{pct}_ms"] = [_r(a), _r(b)]
            entry[f"p{pct}_ratio_large_over_small"] = round(b / a, 3) if a and b else None
        entry["ok_per_s"] = [round(small.success_rate, 1), round(large.success_rate, 1)]
        entry["throughput_ratio_large_over_small"] = (
            round(large.success_rate / small.success_rate, 3) if small.success_rate else None)
        out[key] = entry
    return out


def print_ratios(rat: dict, out) -> None:
    if "creates_vs_target" in rat:
        c = rat["creates_vs_target"]
        print(f"creates: {c['successes_per_s']:.0f}/s = {c['ratio']:.2f} × target "
              f"({c['target_per_s']:.0f} durable creates/s with {c['target_clients']} clients; "
              f"measured with {c['clients']})", file=out)
    if "member_changes_per_s" in rat:
        print(f"members: {rat['member_changes_per_s']:.0f} member changes/s", file=out)
    for key, label, unit in (("scale_lookups", "lookup", "users in the tenant"),
                             ("scale_members", "member add", "members in the Team")):
        if key not in rat:
            continue
        e = rat[key]
        print(f"scale ({label}): {e['small_size']} vs {e['large_size']} {unit}: "
              f"p50 {e['p50_ms'][0]} → {e['p50_ms'][1]} ms (× {e['p50_ratio_large_over_small']}), "
              f"p99 {e['p99_ms'][0]} → {e['p99_ms'][1]} ms (× {e['p99_ratio_large_over_small']}), "
              f"{e['ok_per_s'][0]}/s → {e['ok_per_s'][1]}/s (× {e['throughput_ratio_large_over_small']}); "
              f"1.00 = cost independent of the data", file=out)
