"""Benchmarks. Run all with ``make bench`` (``python -m bench``) or one with
``python -m bench.bench_envelope [--json]``. Results are measured on the machine that runs them;
the README records figures with the command that produced them."""
