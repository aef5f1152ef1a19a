"""Benchmarks (``python -m tests.bench``), not tests: their sleeps pace load
generators and samplers, and each says so.  Only test_*.py here run under
pytest, as quick smokes of the harness (marked e2e)."""
