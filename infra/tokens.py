"""Organization API tokens: generated with high entropy, shown once, stored only as a hash.

Tokens carry 256 bits of randomness, so a single SHA-256 is the right hash: it is not a password
that needs key stretching, and lookups by hash stay one indexed query. Comparison of the stored
hash is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "sgt"
# Operator tokens (``domain.operators``) start differently, so a lookup knows which table to ask.
OPERATOR_TOKEN_PREFIX = "sgo"


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def is_operator_token(token: str) -> bool:
    return token.startswith(OPERATOR_TOKEN_PREFIX)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hashes_match(stored_hash: str, presented_token: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_token(presented_token))
