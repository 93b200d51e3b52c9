"""Generated modules on disk, named by the hash of their source, imported under a registered name.

Numba's cache lives beside each file (`__pycache__`); it reloads a module's compiled functions by importing
the module by name, so every generated module is registered in `sys.modules`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from types import ModuleType

from kgraph import config
from kgraph.codegen.gemm import define_sgemm


def helpers_digest(*modules: ModuleType) -> str:
    """A digest of the helper modules generated code imports (BLAS bindings, intrinsics, scalar math).

    Numba's cache of a generated module checks only that module's own file, and a helper's compiled code
    is linked into its callers: written into the generated source, the digest makes a changed helper a
    new module instead of stale cached code.
    """
    digest = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


SHARED_NAME = "kg_kernel"  # a shared kernel's name in its own module (its helpers: kg_kernel_rows, ...)


def module_name(source: str) -> str:
    return "kg_" + hashlib.sha256(source.encode()).hexdigest()[:20]


def load_source(source: str) -> ModuleType:
    """Writes `source` (once) to the cache folder and imports it; returns the module."""
    name = module_name(source)
    if name in sys.modules:
        return sys.modules[name]
    define_sgemm()  # generated kernels call it by symbol
    folder = config.cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        # Write then rename: a concurrent process never imports half a file.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
