"""Load generator for scimgate: measures throughput and latency, prints numbers and ratios.

Runs against a service that is already up (``--url BASE --token T``) or starts one itself
(``--start``, the default when no ``--url`` is given) in a fresh temporary data dir on a free port,
on the embedded default or on the ``--database-url`` / ``--redis-url`` given.

Scenarios (``--scenario``):

- ``creates``  concurrent ``POST /Users`` with unique userNames; a success is a 201.
- ``lookups``  concurrent ``GET /Users?filter=userName eq "<random seeded user>"``; a success is a
               200 whose ``totalResults`` is 1.
- ``members``  one Group, then concurrent ``PATCH /Groups/{id}`` adding distinct seeded users (and,
               with ``--removes``, removing some of them again); a success is a 204/200. Afterwards the
               Group is read back and its members are compared with what the 2xx answers promised.
- ``all``      creates, lookups, members.

``--scale`` runs the "cost grows with the change, not with the data" check: lookups (and member
adds) on a small tenant, then the same after seeding the tenant up to ``--scale-size`` users
directly into the store, and prints both and the ratio.

Every loop is bounded by a request count or a duration; only 127.0.0.1 is ever contacted.
This is a measuring tool: it prints numbers and ratios, never asserts.

Modules: ``measure`` (phases, percentiles, CPU), ``stack`` (the started service), ``client`` (the
SCIM requests), ``seed`` (users over HTTP or straight into the store), ``scenarios``, ``report``
(table and ratios), ``cli`` (options and the run). ``python -m bench.loadgen --help``.
"""
