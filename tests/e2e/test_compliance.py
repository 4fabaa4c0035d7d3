"""The community compliance checker, scim2-tester, against the live stack (issue 3).

``scim2 --url URL -h "Authorization: Bearer TOKEN" test`` discovers the server from its
/ServiceProviderConfig, /ResourceTypes and /Schemas (so it checks the full schemas scimgate
declares), then creates, reads, lists, searches, replaces, patches (every attribute) and deletes
Users (with the Enterprise extension) and Groups. It prints one line per check result,
``<STATUS> <check name>``, followed by indented reason lines.

Every check it runs must succeed. SKIPPED results are checks it did not run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

STATUSES = ("SUCCESS", "COMPLIANT", "ACCEPTABLE", "DEVIATION", "ERROR", "CRITICAL", "SKIPPED")
_LINE = re.compile(rf"^({'|'.join(STATUSES)}) (\S.*)$")

@dataclass(frozen=True)
class Result:
    status: str
    check: str
    reason: str


def scim2_cli() -> str:
    beside = Path(sys.executable).with_name("scim2")
    found = str(beside) if beside.exists() else shutil.which("scim2")
    if not found:
        pytest.fail("scim2-cli is not installed (pip install -e '.[test]')")
    return found


def parse(output: str) -> list[Result]:
    results: list[Result] = []
    status = check = None
    reason: list[str] = []
    for line in output.splitlines():
        match = _LINE.match(line)
        if match:
            if status:
                results.append(Result(status, check, "\n".join(reason)))
            status, check, reason = match.group(1), match.group(2).strip(), []
        elif status and line.startswith("  "):
            reason.append(line.strip())
    if status:
        results.append(Result(status, check, "\n".join(reason)))
    return results


@pytest.fixture(scope="module")
def compliance(stack):
    org = stack.new_org()
    command = [scim2_cli(), "--url", f"{stack.url}/scim/v2/{org.id}", "-h", f"Authorization: Bearer {org.token}", "test"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    output = run.stdout + ("\n--- stderr ---\n" + run.stderr if run.stderr.strip() else "")
    return parse(run.stdout), output


def _report(output: str) -> str:
    return f"\n\n--- scim2 test output ---\n{output}\n"


def test_scim2_tester_runs_every_check_successfully(compliance):
    results, output = compliance
    ran = [r for r in results if r.status != "SKIPPED"]
    assert len(ran) > 50, f"scim2-tester ran too few checks:{_report(output)}"
    checks = {r.check for r in ran}
    for expected in (
        "service_provider_config_endpoint", "query_all_schemas", "object_creation", "object_query",
        "object_list_with_attributes", "search_with_attributes", "object_replacement", "object_deletion",
        "check_add_attribute", "check_replace_attribute", "check_remove_attribute",
    ):
        assert expected in checks, f"{expected} did not run:{_report(output)}"
    failed = [r for r in ran if r.status != "SUCCESS"]
    assert not failed, (
        "scim2-tester checks failed:\n"
        + "\n".join(f"{r.status} {r.check}: {r.reason[:500]}" for r in failed)
        + _report(output)
    )
