"""Compiled kernels on disk.

The generated source is written under the cache directory with a name derived from its
hash (and from the kernel helpers' source and the numba version), then imported; numba's
own cache (`cache=True`) keeps the machine code next to it in `__pycache__`. A warm start
therefore parses and checks the policies, regenerates the same source, finds the file and
loads machine code instead of compiling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import numba

from engine import kernels


def cache_dir() -> Path:
    """`PITBOSS_CACHE_DIR`, else `$XDG_CACHE_HOME/pitboss`, else `~/.cache/pitboss`."""
    explicit = os.environ.get("PITBOSS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pitboss"


@cache
def _helpers_digest() -> str:
    text = Path(kernels.__file__).read_bytes()
    salt = f"{numba.__version__}|{sys.version_info[:2]}".encode()
    return hashlib.sha256(text + salt).hexdigest()


def kernel_name(source: str) -> str:
    digest = hashlib.sha256((_helpers_digest() + source).encode()).hexdigest()
    return f"pitboss_pack_{digest[:20]}"


def load_kernel(source: str) -> ModuleType:
    """Import the kernel module for `source`, writing it to the cache first if needed."""
    name = kernel_name(source)
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    folder = cache_dir() / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        # Write then rename, so a concurrent reader never imports half a file.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
