"""The oracle: what the clients were told against what the store and the audit stream hold.

Run it after every deadline has passed (plus margin) and the outbox has drained. ``check`` is
pure (records, a store snapshot, the stream's events); ``read_store`` takes the snapshot.

What must hold (each violation is counted under its name, with examples):

- ``lost_acknowledged``: a 2xx write whose effect is not in the store. A create's user or Team
  exists with the id answered; a user's ``displayName`` is the value of its client's last 2xx
  PATCH, unless a write whose outcome the client could not learn (``unknown``) may have been
  applied after it; a Team membership is what the client's last 2xx add/remove made it, on the
  same proviso.
- ``applied_after_error``: a request answered with an error (503, 4xx, 500 …) or never sent
  (connection refused) was applied: a success audit event carries its request id, or its effect
  is in the store (its user exists, its value is stored, its membership change stands).
- ``applied_twice``: success events of one request id name more than one command (two commands
  of one request applied).
- ``missing_events``: a 2xx request, or an ``applied`` row of ``processed_commands``, without a
  success event.
- ``duplicate_events``: an event appearing more than once, keyed by ``(command_id, outcome)``;
  ``duplicate_event_ids``: an ``event_id`` appearing more than once on the stream.
- ``server_errors``: a 5xx other than 503 was answered; ``dead_lettered``: a command was
  dead-lettered (answered 500 as a poison), which this suite never injects;
  ``missing_retry_after``: a 503 or 429 without a ``Retry-After`` header.

"May have been applied after": a 2xx write is applied before its answer; a write with an
unknown outcome is applied, if ever, before its deadline (sent + command timeout, plus a slack
for the ingress's own processing). A value is a possible final value when its write succeeded or
might have, and no 2xx write of the same client to the same target was certainly applied later
(sent after the first one's latest moment of application).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from infra.store.tables import processed_commands, team_members, teams, users
from tests.faults.load import (
    ADD_MEMBER, CREATE_TEAM, CREATE_USER, ERROR, OK, PATCH_USER, REFUSED, REMOVE_MEMBER, UNKNOWN, Request,
)

SUCCESS = "success"
CATEGORIES = (
    "lost_acknowledged", "applied_after_error", "applied_twice", "missing_events", "duplicate_events",
    "duplicate_event_ids", "server_errors", "dead_lettered", "missing_retry_after",
)
MAX_EXAMPLES = 8
# An unknown-outcome write's command is created by its ingress a moment after it was sent.
INGRESS_SLACK_SECONDS = 5.0


@dataclass
class StoreSnapshot:
    users: dict  # user id -> (org id, userName, displayName)
    teams: dict  # team id -> (org id, displayName)
    members: set  # (team id, user id)
    applied: dict  # command id -> org id, for ledger rows with outcome "applied"

    def __post_init__(self) -> None:
        self._user_names = {(org, name.casefold()): uid for uid, (org, name, _display) in self.users.items()}
        self._team_names = {(org, name.casefold()): tid for tid, (org, name) in self.teams.items()}

    def user_named(self, org_id: str, user_name: str) -> str | None:
        return self._user_names.get((org_id, user_name.casefold()))

    def team_named(self, org_id: str, name: str) -> str | None:
        return self._team_names.get((org_id, name.casefold()))


def read_store(engine, org_ids: list[str]) -> StoreSnapshot:
    with engine.connect() as conn:
        user_rows = conn.execute(
            select(users.c.id, users.c.org_id, users.c.user_name, users.c.display_name).where(users.c.org_id.in_(org_ids))
        ).all()
        team_rows = conn.execute(
            select(teams.c.id, teams.c.org_id, teams.c.display_name).where(teams.c.org_id.in_(org_ids))
        ).all()
        member_rows = conn.execute(
            select(team_members.c.team_id, team_members.c.user_id).where(team_members.c.org_id.in_(org_ids))
        ).all()
        ledger_rows = conn.execute(
            select(processed_commands.c.command_id, processed_commands.c.org_id).where(
                processed_commands.c.org_id.in_(org_ids), processed_commands.c.outcome == "applied"
            )
        ).all()
    return StoreSnapshot(
        users={r.id: (r.org_id, r.user_name, r.display_name) for r in user_rows},
        teams={r.id: (r.org_id, r.display_name) for r in team_rows},
        members={(r.team_id, r.user_id) for r in member_rows},
        applied={r.command_id: r.org_id for r in ledger_rows},
    )


@dataclass
class Verdict:
    counts: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: defaultdict(list))
    checked: Counter = field(default_factory=Counter)  # what was looked at, for the report

    def flag(self, category: str, times: int = 1, **example) -> None:
        """Count ``times`` violations of ``category``; keep ``example`` among the first few."""
        assert category in CATEGORIES, category
        self.counts[category] += times
        if times > 1:
            example["extra"] = times
        if len(self.examples[category]) < MAX_EXAMPLES:
            self.examples[category].append(example)

    @property
    def violations(self) -> dict[str, int]:
        return {name: self.counts.get(name, 0) for name in CATEGORIES}

    @property
    def clean(self) -> bool:
        return not any(self.violations.values())

    def to_dict(self) -> dict:
        return {"violations": self.violations, "checked": dict(self.checked),
                "examples": {k: v for k, v in self.examples.items() if v}}


def _latest_application(request: Request, window: float) -> float:
    """The latest moment ``request`` can have been applied at (it was not before ``sent``)."""
    return request.answered if request.outcome == OK else request.sent + window


def possible_finals(writes: list[Request], effect, initial, window: float) -> set:
    """The final states one client's sequence of writes to one target can leave (see module doc)."""
    acknowledged = [w for w in writes if w.outcome == OK]
    finals = set()
    for write in writes:
        if write.outcome not in (OK, UNKNOWN):
            continue
        latest = _latest_application(write, window)
        if not any(later.sent > latest for later in acknowledged):
            finals.add(effect(write))
    if not acknowledged:
        finals.add(initial)
    return finals


def check(requests: list[Request], store: StoreSnapshot, events: list[dict], *,
          command_timeout: float, reply_margin: float) -> Verdict:
    verdict = Verdict()
    window = command_timeout + reply_margin + INGRESS_SLACK_SECONDS
    org_ids = {r.org_id for r in requests}
    ours = [e for e in events if e.get("org_id") in org_ids]
    verdict.checked.update(requests=len(requests), events=len(ours), applied_commands=len(store.applied))

    _check_events(verdict, requests, store, ours)
    _check_creates(verdict, requests, store)
    _check_patches(verdict, requests, store, window)
    _check_members(verdict, requests, store, window)
    for request in requests:
        if request.status is not None and request.status >= 500 and request.status != 503:
            verdict.flag("server_errors", request_id=request.request_id, op=request.op, status=request.status)
        if request.status in (429, 503) and not request.retry_after:
            verdict.flag("missing_retry_after", request_id=request.request_id, op=request.op, status=request.status)
    return verdict


def _check_events(verdict: Verdict, requests: list[Request], store: StoreSnapshot, events: list[dict]) -> None:
    by_id = Counter(e.get("event_id") for e in events if e.get("event_id"))
    for event_id, seen in by_id.items():
        if seen > 1:  # every appearance after the first
            verdict.flag("duplicate_event_ids", times=seen - 1, event_id=event_id)
    by_decision = Counter((e.get("command_id"), e.get("outcome")) for e in events if e.get("command_id"))
    for (command_id, outcome), seen in by_decision.items():
        if seen > 1:
            verdict.flag("duplicate_events", times=seen - 1, command_id=command_id, outcome=outcome)
    for event in events:
        if event.get("detail", {}).get("deadLettered"):
            verdict.flag("dead_lettered", request_id=event.get("request_id"), command_id=event.get("command_id"))

    successes = [e for e in events if e.get("outcome") == SUCCESS]
    commands_of_request: dict[str, set] = defaultdict(set)
    success_commands = Counter()
    for event in successes:
        commands_of_request[event.get("request_id")].add(event.get("command_id"))
        success_commands[event.get("command_id")] += 1
    for command_id in store.applied:
        if success_commands.get(command_id, 0) == 0:
            verdict.flag("missing_events", command_id=command_id, why="applied in the ledger, no success event")
    verdict.checked["success_events"] = len(successes)

    for request in requests:
        commands = commands_of_request.get(request.request_id, set())
        if len(commands) > 1:
            verdict.flag("applied_twice", request_id=request.request_id, op=request.op, commands=sorted(commands))
        if request.outcome == OK and not commands:
            verdict.flag("missing_events", request_id=request.request_id, op=request.op, why="2xx, no success event")
        if request.outcome in (ERROR, REFUSED) and commands:
            verdict.flag("applied_after_error", request_id=request.request_id, op=request.op, status=request.status,
                         why="a success event carries its request id")


def _check_creates(verdict: Verdict, requests: list[Request], store: StoreSnapshot) -> None:
    for request in requests:
        if request.op == CREATE_USER:
            found = store.user_named(request.org_id, request.user_name)
        elif request.op == CREATE_TEAM:
            found = store.team_named(request.org_id, request.user_name)
        else:
            continue
        answered_id = request.user_id if request.op == CREATE_USER else request.team_id
        if request.outcome == OK and (found is None or found != answered_id):
            verdict.flag("lost_acknowledged", request_id=request.request_id, op=request.op, name=request.user_name,
                         answered_id=answered_id, stored_id=found)
        if request.outcome in (ERROR, REFUSED) and found is not None:
            verdict.flag("applied_after_error", request_id=request.request_id, op=request.op, status=request.status,
                         name=request.user_name, why="created although answered with an error")
        verdict.checked["creates"] += 1


def _by_target(requests: list[Request], ops: tuple, key) -> dict:
    grouped: dict = defaultdict(list)
    for request in requests:
        if request.op in ops and key(request) is not None:
            grouped[key(request)].append(request)
    for writes in grouped.values():
        writes.sort(key=lambda r: r.sent)
    return grouped


def _initial_display_names(requests: list[Request]) -> dict[str, str]:
    return {r.user_id: f"initial {r.request_id}" for r in requests if r.op == CREATE_USER and r.user_id}


def _check_patches(verdict: Verdict, requests: list[Request], store: StoreSnapshot, window: float) -> None:
    initial = _initial_display_names(requests)
    for user_id, writes in _by_target(requests, (PATCH_USER,), lambda r: r.user_id).items():
        if user_id not in store.users:
            continue  # its create is judged above
        stored = store.users[user_id][2]
        finals = possible_finals(writes, lambda w: w.value, initial.get(user_id), window)
        verdict.checked["patched_users"] += 1
        if stored in finals:
            continue
        failed = [w for w in writes if w.outcome in (ERROR, REFUSED) and w.value == stored]
        acknowledged = [w for w in writes if w.outcome == OK]
        if failed:
            verdict.flag("applied_after_error", request_id=failed[0].request_id, op=PATCH_USER, status=failed[0].status,
                         user_id=user_id, stored=stored, why="its value is stored")
        else:
            verdict.flag("lost_acknowledged", request_id=acknowledged[-1].request_id if acknowledged else None,
                         op=PATCH_USER, user_id=user_id, stored=stored, expected=sorted(map(str, finals)))


def _check_members(verdict: Verdict, requests: list[Request], store: StoreSnapshot, window: float) -> None:
    grouped = _by_target(requests, (ADD_MEMBER, REMOVE_MEMBER),
                         lambda r: (r.team_id, r.user_id) if r.team_id and r.user_id else None)
    for (team_id, user_id), writes in grouped.items():
        if team_id not in store.teams or user_id not in store.users:
            continue
        member = (team_id, user_id) in store.members
        finals = possible_finals(writes, lambda w: w.op == ADD_MEMBER, False, window)
        verdict.checked["memberships"] += 1
        if member in finals:
            continue
        acknowledged = [w for w in writes if w.outcome == OK]
        last_ok = acknowledged[-1].sent if acknowledged else 0.0
        failed = [w for w in writes if w.outcome in (ERROR, REFUSED) and (w.op == ADD_MEMBER) == member
                  and w.sent > last_ok]
        if failed:
            verdict.flag("applied_after_error", request_id=failed[-1].request_id, op=failed[-1].op,
                         status=failed[-1].status, team_id=team_id, user_id=user_id, member=member)
        else:
            verdict.flag("lost_acknowledged", request_id=acknowledged[-1].request_id if acknowledged else None,
                         op=acknowledged[-1].op if acknowledged else None, team_id=team_id, user_id=user_id,
                         member=member)
