"""Bounds on what a client may send: the one place they are written down.

Every request is checked against these at the ingress, before anything is queued, so that no
organization's input can fail, delay or slow down another's (ARCHITECTURE.md, principle 8).
Each bound sits far above what real identity providers send (Okta, Entra, OneLogin, JumpCloud,
Ping, Rippling: SCIM bodies nest fewer than 8 levels, name a few dozen attributes at most, and
send at most a few hundred PATCH operations per request) and far below what would cost the
ingress, the queue or the store noticeable work. The body size, the Bulk operation count, the
page size and the body read time are settings (``infra.config``); these are not.
"""

from __future__ import annotations

#: JSON bodies: objects and arrays nested deeper than this are refused (400 invalidSyntax).
#: Real SCIM nests at most 9 levels (a Bulk PATCH whose value is an extension object holding a
#: complex attribute); the Celery message that carries a command adds a few more, far below the
#: 1,023 that its JSON codec (and orjson) can take.
MAX_JSON_DEPTH = 32

#: JSON bodies: at most this many objects and arrays in one body (400 invalidSyntax). A Bulk
#: request of 1,000 full user profiles holds about 20,000, a 1 MiB Group of 20,000 members as many.
#: (Counted as the ``{`` and ``[`` characters of the raw body, before it is parsed.)
MAX_JSON_CONTAINERS = 50_000

#: Operations in one PATCH request (413, like Bulk's maxOperations).
MAX_PATCH_OPERATIONS = 1_000

#: Names in one ``attributes`` or ``excludedAttributes`` list (400 invalidValue); a User has
#: fewer than 100 attributes and sub-attributes, extension ones included.
MAX_ATTRIBUTE_NAMES = 200

#: Characters in a filter, a PATCH path or a sortBy (400 invalidFilter / invalidPath /
#: invalidValue), and the number of attribute expressions and the nesting of one filter.
MAX_FILTER_LENGTH = 10_000
MAX_FILTER_TERMS = 500
MAX_FILTER_DEPTH = 50

#: Characters of a number in a filter or a PATCH path (Python refuses to convert integers of
#: more than 4,300 digits; no SCIM value comes close to this bound).
MAX_NUMBER_LENGTH = 100

#: Characters of the strings the store keeps in indexed columns (``String(512)`` in
#: ``infra/store/tables.py``): a User's ``userName``, ``displayName`` and ``externalId``, a
#: Group's ``displayName`` and ``externalId``, and a member's ``display``. PostgreSQL enforces
#: the column size, SQLite does not; both answer a longer one 400 invalidValue at the ingress.
MAX_INDEXED_STRING = 512

#: Characters of a pagination cursor (ours are under 300).
MAX_CURSOR_LENGTH = 2_048
