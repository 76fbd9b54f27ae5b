"""Every test module has a basename of its own.

pytest imports test modules by basename (rootdir-relative packages are not used here), so two
``test_x.py`` in different tiers make the whole run fail at collection, while running either
tier alone passes. This catches it in ``make unit``, before the full suite does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_basename():
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" in path.parts:
            continue
        seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
