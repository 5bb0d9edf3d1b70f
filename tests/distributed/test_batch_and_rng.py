"""How a global batch is split over ranks, and random draws that depend on the sample, never the rank."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from train_svc.training.ranks import Ranks
from train_svc.training.sample_rng import keyed_generator, sample_generator


@given(batch=st.integers(1, 64), world=st.integers(1, 16))
def test_the_shares_cover_the_batch_once_and_differ_by_at_most_one(batch: int, world: int) -> None:
    shares = [Ranks(rank, world).share(batch) for rank in range(world)]
    assert [i for share in shares for i in share] == list(range(batch))
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_batch_smaller_than_the_world_leaves_the_last_ranks_empty() -> None:
    assert [list(Ranks(rank, 4).share(2)) for rank in range(4)] == [[0], [1], [], []]


def test_a_sample_draws_the_same_numbers_whoever_draws_them() -> None:
    first = torch.randn(5, generator=sample_generator(42, 7, 3))
    again = torch.randn(5, generator=sample_generator(42, 7, 3))
    assert torch.equal(first, again)
    for other in (sample_generator(42, 7, 2), sample_generator(42, 8, 3), sample_generator(43, 7, 3)):
        assert not torch.equal(torch.randn(5, generator=other), first)


def test_purposes_do_not_share_streams() -> None:
    assert not torch.equal(
        torch.rand(4, generator=keyed_generator(1, "sample", 0)),
        torch.rand(4, generator=keyed_generator(1, "order", 0)),
    )


def test_one_process_needs_no_process_group() -> None:
    ranks = Ranks()
    assert ranks.is_main and not ranks.distributed
    assert ranks.sum([1.5, 2.0]) == [1.5, 2.0] and ranks.any(True) and not ranks.any(False)
