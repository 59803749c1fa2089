"""The policy compiler: checked policies → one fused numba kernel and its tables."""

from __future__ import annotations

from dsl.compiler.cache import cache_dir, load_kernel
from dsl.compiler.codegen import CompileError, compile_pack
from dsl.compiler.program import ExplainItem, PolicyInfo, Program, RuleInfo, StoreSpec

__all__ = [
    "CompileError",
    "ExplainItem",
    "PolicyInfo",
    "Program",
    "RuleInfo",
    "StoreSpec",
    "cache_dir",
    "compile_pack",
    "load_kernel",
]
