"""The parts of tests/benchmarks/bench_scale.py (a script, not collected by pytest)."""
