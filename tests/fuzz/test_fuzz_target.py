"""The archive fuzz target, run without atheris over its seeds and a few hundred fixed mutations of them.

This keeps tests/fuzz/fuzz_archive.py working between hand-run fuzzing sessions, and replays the kinds of
damage the fuzzer produces (flipped bytes, cut files, repeated or dropped spans) on every test run.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from preprocess_svc.extract import EntryReason, extract_zip
from tests.fuzz.fuzz_archive import one_input, seed_corpus

SEEDS = seed_corpus()
MUTATIONS = 400


def mutate(data: bytes, rng: random.Random) -> bytes:
    """data with one to four random edits: flipped bits, set bytes, a cut, a repeated or a dropped span."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            out += rng.randbytes(rng.randint(1, 8))
            continue
        at = rng.randrange(len(out))
        span = rng.randint(1, min(16, len(out) - at))
        match rng.randrange(5):
            case 0:
                out[at] ^= 1 << rng.randrange(8)
            case 1:
                out[at] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF])
            case 2:
                del out[at:]
            case 3:
                out[at:at] = out[at : at + span]
            case 4:
                del out[at : at + span]
    return bytes(out)


def mutated_inputs() -> list[bytes]:
    rng = random.Random(20240611)
    return [mutate(rng.choice(SEEDS), rng) for _ in range(MUTATIONS)]


MUTATED = mutated_inputs()


def test_the_seeds_reach_every_entry_reason(tmp_path: Path) -> None:
    reached: set[EntryReason] = set()
    for number, seed in enumerate(SEEDS):
        archive = tmp_path / f"seed_{number}.zip"
        archive.write_bytes(seed)
        result = extract_zip(archive, tmp_path / f"out_{number}", max_uncompressed_bytes=1 << 20, max_entries=64)
        reached |= {entry.reason for entry in result.skipped}
    assert reached == set(EntryReason)


@pytest.mark.parametrize("number", range(len(SEEDS)))
def test_each_seed_is_handled(number: int) -> None:
    one_input(SEEDS[number])


@pytest.mark.parametrize("number", range(MUTATIONS))
def test_a_mutated_seed_ends_in_a_result_or_archive_error(number: int) -> None:
    one_input(MUTATED[number])
