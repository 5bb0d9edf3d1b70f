"""Counts of the hostile corpus by class and by expected outcome: python -m tests.hostile.summary"""

from __future__ import annotations

from collections import Counter

from tests.hostile.cases import CORPUS
from tests.hostile.corpus import CLASSES


def main() -> None:
    cases = CORPUS.cases
    print(f"{len(cases)} cases")
    for kind in CLASSES:
        print(f"  {kind:<9} {len(CORPUS.of(kind))}")
    print("by expected outcome:")
    for (code, reason), count in sorted(Counter((c.code, c.reason) for c in cases).items()):
        print(f"  {count:>3}  {code}{' / ' + reason if reason else ''}")


if __name__ == "__main__":
    main()
