"""A tiny run of the benchmarks, end to end (speed lives in bench/, never asserted here)."""
