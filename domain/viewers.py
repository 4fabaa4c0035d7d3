"""Who is looking at the ops dashboard, and which audit events and organizations they may see.

Pure: a ``Viewer`` is what a dashboard session holds (never a token): an operator sees every
organization; an organization's token (Owner or Member role: the dashboard only reads) sees
that organization only. Events without an organization (a throttle summary across several
organizations) are operators' only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

OPERATOR = "operator"
ORGANIZATION = "organization"


@dataclass(frozen=True)
class Viewer:
    kind: str  # OPERATOR | ORGANIZATION
    subject_id: str  # the operator's id, or the organization token's id
    name: str  # the operator's name, or the organization's
    org_id: str | None = None  # the one organization an ORGANIZATION viewer sees
    role: str = ""  # the organization token's role (owner | member)

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR

    def sees_org(self, org_id: str | None) -> bool:
        return self.is_operator or (org_id is not None and org_id == self.org_id)

    def sees(self, event: dict) -> bool:
        return self.sees_org(event.get("org_id") or None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Viewer":
        return cls(kind=str(data["kind"]), subject_id=str(data["subject_id"]), name=str(data.get("name", "")),
                   org_id=data.get("org_id"), role=str(data.get("role", "")))
