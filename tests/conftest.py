"""Test session settings: a private kgraph home, a shared kernel cache, and Keras on JAX as the oracle."""

import os
import tempfile

_home = tempfile.mkdtemp(prefix="kgraph-test-home-")
os.environ.setdefault("KGRAPH_HOME", _home)
os.environ.setdefault("KGRAPH_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".kgraph", "cache"))
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("KERAS_HOME", os.path.join(_home, "keras"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pytest_collection_modifyitems(items):
    """Slow tests first (a stable sort: the rest keep their order). Two workers take tests in this order, so
    the longest start early and the workers finish together, not one running a last long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
