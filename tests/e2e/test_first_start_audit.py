"""First start is a change like any other: what ``scimgate run`` makes on an empty store (the
organization, SCIM turned on) reaches the audit stream, and ``scimgate audit tail`` shows it."""

from __future__ import annotations

import json
import re
import time

from tests.support.scimgate_run import ScimgateProcess, backend_env, clean_env, scimgate_cli


def audit(env: dict, workdir, data_dir, org_id: str) -> list[dict]:
    tail = scimgate_cli(env, workdir, "audit", "tail", "--org", org_id, "--json", "--data-dir", str(data_dir))
    assert tail.returncode == 0, tail.stderr
    return [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]


def wait_for_events(env: dict, workdir, data_dir, org_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 30  # the worker's sweeper relays the outbox within seconds
    while True:
        events = audit(env, workdir, data_dir, org_id)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_first_start_audits_the_organization_it_makes_and_scim_turned_on(tmp_path):
    backend, drop = backend_env()
    env = clean_env(**backend)
    try:
        service = ScimgateProcess(["run"], env, tmp_path).start()  # not a terminal: no token is made
        try:
            base = service.wait_for_log(r"SCIM base URL: (\S+)").group(1)
            org_id = base.rsplit("/", 1)[1]
            service.wait_ready()
            events = wait_for_events(env, tmp_path, service.data_dir, org_id, 2)
            assert [(e["action"], e["outcome"]) for e in events] == [("org:create", "success"),
                                                                     ("org:scim:enable", "success")]
            enabled = events[1]
            assert enabled["resource_type"] == "Organization" and enabled["resource_id"] == org_id
            assert enabled["changed"] == ["scimEnabled"] and enabled["detail"]["via"] == "first-start"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", enabled["time"])
            assert not re.search(r"sgt[A-Za-z0-9_-]{16,}", json.dumps(events))
        finally:
            service.stop()

        # A second start changes nothing, so it audits nothing: the next event is the next change.
        again = ScimgateProcess(["run"], env, tmp_path).start()
        try:
            again.wait_for_log(r"scimgate is starting\. SCIM base URLs:")
            again.wait_ready()
            disabled = scimgate_cli(env, tmp_path, "scim", "disable", "--org", org_id,
                                    "--data-dir", str(again.data_dir))
            assert disabled.returncode == 0, disabled.stderr
            events = wait_for_events(env, tmp_path, again.data_dir, org_id, 3)
            assert [e["action"] for e in events] == ["org:create", "org:scim:enable", "org:scim:disable"]
            assert events[2]["detail"]["via"] == "cli"
        finally:
            again.stop()
    finally:
        drop()
