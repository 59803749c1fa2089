"""Front-end cost of a policy pack: grammar build, parse, and all check passes.

    .venv/bin/python load/bench_policy_check.py [POLICY_DIR]

Prints cold (first call in a fresh process, grammar built) and warm (median of repeated
runs) times. The compile step that the DESIGN budget (cold ≤ 5 s) covers comes on top.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "policies"
    files = sorted(folder.rglob("*.pol"))
    started = time.perf_counter()
    import dsl  # imported here so the cold figure includes loading the package

    for path in files:
        dsl.check_file(path)
    cold = time.perf_counter() - started

    runs = []
    for _ in range(30):
        t = time.perf_counter()
        for path in files:
            dsl.check_file(path)
        runs.append(time.perf_counter() - t)
    lines = sum(len(p.read_text().splitlines()) for p in files)
    warm = statistics.median(runs)
    print(f"policies: {len(files)} files, {lines} lines")
    print(f"cold import + parse + check: {cold * 1000:.0f} ms")
    print(f"warm parse + check (median of 30): {warm * 1000:.1f} ms ({lines / warm:,.0f} lines/s)")


if __name__ == "__main__":
    main()
