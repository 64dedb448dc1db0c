"""Print every benchmark figure in one run: `make bench` (a benchmark, not a timed test)."""

from __future__ import annotations

import datetime as dt
import os
import platform

from benchmarks import planning


def main() -> None:
    print(f"trailkeeper benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
          f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}\n")
    for line in planning.report(planning.measure()):
        print(line)


if __name__ == "__main__":
    main()
