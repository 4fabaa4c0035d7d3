"""Benchmarks: the load generator (``bench.loadgen``), the side-by-side run against
scim2-server (``bench.compare``) and the long fault-injection run (``bench/faults.py``)."""
