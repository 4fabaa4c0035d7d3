"""The side-by-side run's markdown table, and its "cost against the data" ratios (principle 4).

``python -m bench.compare.report bench/results/compare-….json`` prints the table of a saved run.
"""

from __future__ import annotations

SCIMGATE, PEER = "scimgate", "scim2-server"

# (workload, figure, label, unit, higher is better)
SIZE_ROWS = (
    ("creates", "per_s", "user creates", "/s", True),
    ("lookups", "per_s", "`userName eq` lookups", "/s", True),
    ("lookups", "p50_ms", "lookup p50", "ms", False),
    ("lookups", "p99_ms", "lookup p99", "ms", False),
    ("page at start", "p50_ms", "page of 100 by startIndex, at the start (p50)", "ms", False),
    ("page at middle", "p50_ms", "page of 100 by startIndex, in the middle (p50)", "ms", False),
    ("page at end", "p50_ms", "page of 100 by startIndex, at the end (p50)", "ms", False),
    ("page at middle", "first_ms", "page of 100 by startIndex, in the middle, first request", "ms", False),
    ("page at end", "first_ms", "page of 100 by startIndex, at the end, first request", "ms", False),
    ("full read by index", "seconds", "full read by startIndex, one client", "s", False),
    ("full read by cursor", "seconds", "full read by cursor, one client", "s", False),
    ("entra first cycle", "users_per_s", "Entra first cycle (filter externalId, then create)", "users/s", True),
)
TEAM_ROWS = (
    ("add 100 members", "p50_ms", "add 100 members in one PATCH (p50)", "ms", False),
    ("remove one member", "p50_ms", "remove one member by valuePath (p50)", "ms", False),
)


def _value(figures: dict | None, key: str):
    """A figure as printed: extrapolated reads get a '≥' (index paging gets slower with depth)."""
    if not figures:
        return None, "—"
    if "unsupported" in figures:
        return None, "n/a¹"
    if "error" in figures:
        return None, f"error {figures['error']}"
    value = figures.get(key)
    if key == "seconds" and not figures.get("complete") and figures.get("seconds_extrapolated") is not None:
        value = figures["seconds_extrapolated"]
        return value, f"≥ {value:,.1f}²"
    if value is None:
        return None, "—"
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    return value, text + (" ⚠" if figures.get("errors") else "")


def _row(label: str, where: str, unit: str, higher_better: bool, ours: dict | None, theirs: dict | None,
         key: str) -> str:
    a, a_text = _value(ours, key)
    b, b_text = _value(theirs, key)
    a_text += f" {unit}" if a is not None else ""
    b_text += f" {unit}" if b is not None else ""
    ratio = (f"{a / b:.2f}×" if a / b >= 0.1 else f"{a / b:.2g}×") if a is not None and b else "—"
    if a is not None and b:
        better = a >= b if higher_better else a <= b
        ratio += " ✓" if better else ""
    return f"| {label} | {where} | {a_text} | {b_text} | {ratio} |"


def markdown(document: dict) -> str:
    lines = [f"Side-by-side, {document['config']['clients']} clients, {document['config']['duration']:g} s per "
             f"throughput workload; scimgate: {document['servers'].get(SCIMGATE, 'not run')}; "
             f"scim2-server: {document['servers'].get(PEER, 'not run')}.", "",
             "| workload | size | scimgate | scim2-server | scimgate/peer (✓ = scimgate better) |",
             "|---|---|---|---|---|"]
    for size, by_workload in document["sizes"].items():
        where = f"{int(size):,} users"
        for workload, key, label, unit, higher in SIZE_ROWS:
            if workload in by_workload:
                figures = by_workload[workload]
                lines.append(_row(label, where, unit, higher, figures.get(SCIMGATE), figures.get(PEER), key))
    for team_size, by_workload in document["teams"].items():
        where = f"Team of {int(team_size):,}"
        for workload, key, label, unit, higher in TEAM_ROWS:
            if workload in by_workload:
                figures = by_workload[workload]
                lines.append(_row(label, where, unit, higher, figures.get(SCIMGATE), figures.get(PEER), key))
    for size, by_server in document["memory"].items():
        for name, processes in by_server.items():
            parts = ", ".join(f"{p['process']} {p['rss_mb']:.0f} MB" for p in processes)
            total = sum(p["rss_mb"] for p in processes)
            lines.append(f"| memory (RSS) after the {int(size):,}-user workloads | {name} | {parts} | "
                         f"total {total:,.0f} MB | |")
    lines += ["", "¹ scim2-server 0.8.3 announces no cursor paging in its default configuration (a `cursor` "
              "request answers 501).", "² not finished within --read-budget: the pace of the pages read, "
              "extrapolated to every user (a lower bound for index paging, whose pages get slower with depth)."]
    if any("⚠" in line for line in lines):
        lines.append("⚠ some requests failed: see the JSON.")
    lines.append("")
    cost = document.get("cost_vs_data", {})
    if cost:
        lines += ["Cost against the data (1.00 = independent of the data; principle 4):", "",
                  "| ratio | scimgate | scim2-server |", "|---|---|---|"]
        for label, by_server in cost.items():
            lines.append(f"| {label} | {_ratio(by_server.get(SCIMGATE))} | {_ratio(by_server.get(PEER))} |")
    lines.append(f"\n(load average at end: {document['machine']['loadavg_1_5_15_now']}, "
                 f"{document['minutes']} min{'' if document['finished'] else ', UNFINISHED run'})")
    return "\n".join(lines)


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}×"


def cost_vs_data(document: dict) -> dict:
    """Lookup p99 at the largest vs the smallest size; a page's p50 at the middle and the end vs the
    start (at the largest size); a member change's p50 at the largest vs the smallest Team."""
    out: dict = {}

    def ratio(a: dict | None, b: dict | None, key: str):
        if not a or not b or not a.get(key) or b.get(key) is None:
            return None
        return round(b[key] / a[key], 2)

    def put(label: str, first: dict | None, second: dict | None, key: str) -> None:
        first, second = first or {}, second or {}
        out[label] = {name: ratio(first.get(name), second.get(name), key) for name in (SCIMGATE, PEER)}

    sizes = sorted(document["sizes"], key=int)
    if len(sizes) >= 2:
        small, large = document["sizes"][sizes[0]], document["sizes"][sizes[-1]]
        put(f"lookup p99, {int(sizes[-1]):,} vs {int(sizes[0]):,} users", small.get("lookups"), large.get("lookups"), "p99_ms")
    if sizes:
        largest = document["sizes"][sizes[-1]]
        for where in ("middle", "end"):
            put(f"page p50, {where} vs start, {int(sizes[-1]):,} users", largest.get("page at start"),
                largest.get(f"page at {where}"), "p50_ms")
            put(f"page, first request, {where} vs start, {int(sizes[-1]):,} users", largest.get("page at start"),
                largest.get(f"page at {where}"), "first_ms")
    teams = sorted(document["teams"], key=int)
    if len(teams) >= 2:
        small, large = document["teams"][teams[0]], document["teams"][teams[-1]]
        for workload in ("add 100 members", "remove one member"):
            put(f"{workload} p50, Team of {int(teams[-1]):,} vs {int(teams[0]):,}", small.get(workload),
                large.get(workload), "p50_ms")
    return out


if __name__ == "__main__":  # python -m bench.compare.report RESULT.json: the table of a saved run again
    import sys

    import orjson

    print(markdown(orjson.loads(open(sys.argv[1], "rb").read())))
