"""Benchmark harness for kgraph (not part of the package, not collected by CI).

See bench/README.md. Entry points: ``python -m bench.run`` and ``pytest bench/ --benchmark-only``.
"""
