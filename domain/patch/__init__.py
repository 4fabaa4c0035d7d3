"""The PATCH engine (RFC 7644 §3.5.2), pure and atomic.

- ``parse``: ``parse_patch_request`` checks a PatchOp body and parses each operation's path;
- ``targets``: ``operation_targets`` resolves what each operation sets or removes;
- ``prepare``: ``prepare_patch`` (the ingress) does both and drops every target that is the
  password, so only the operations, never a password, are queued;
- ``apply``: ``apply_patch`` applies the operations to a deep copy of the stored document and
  returns the new document, or raises a ``ScimError`` and returns nothing (atomicity);
- ``members``: every operation on a Group's ``members`` becomes a ``MemberChange`` the store
  applies as a set operation (membership is never materialised).

Value filters (``emails[type eq "work"]``) are evaluated by ``domain.filter.evaluate``, with the
meaning the SQL compiler gives them in listings (``domain.filter.semantics``).
"""

from domain.patch.apply import PatchOutcome, apply_patch
from domain.patch.members import MemberChange
from domain.patch.parse import PATCH_OP_SCHEMA, PatchOperation, parse_patch_request
from domain.patch.prepare import PreparedPatch, prepare_patch
from domain.patch.targets import PatchTarget, operation_targets

__all__ = [
    "PATCH_OP_SCHEMA",
    "PatchOperation",
    "MemberChange",
    "PatchOutcome",
    "PatchTarget",
    "PreparedPatch",
    "parse_patch_request",
    "prepare_patch",
    "operation_targets",
    "apply_patch",
]
