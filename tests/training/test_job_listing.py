"""Pages of the job list: newest first, stable under new jobs, strict about sizes and tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.request.errors import InvalidRequest
from train_svc.jobs.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE_WEIGHT, Page, page_of, page_request


def page(
    items: list[tuple[int, str | None]], page_size: int, token: str, weigh: Callable[[str], int] = lambda item: 0
) -> Page[str]:
    """A page as the job manager makes one: the request's rows read newest first (as a store would), then cut."""
    size, before = page_request(page_size, token)
    rows = [(n, item) for n, item in reversed(items) if before is None or n < before][: size + 1]
    return page_of(rows, size, weigh)


def numbered(count: int) -> list[tuple[int, str | None]]:
    return [(n, f"job{n}") for n in range(1, count + 1)]


def all_pages(items: list[tuple[int, str | None]], size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        listed = page(items, size, token)
        pages.append(listed.items)
        token = listed.next_page_token
        if not token:
            return pages


def test_pages_go_from_the_newest_job_to_the_oldest() -> None:
    assert all_pages(numbered(5), 2) == [["job5", "job4"], ["job3", "job2"], ["job1"]]
    assert all_pages(numbered(4), 2) == [["job4", "job3"], ["job2", "job1"]]
    assert all_pages([], 2) == [[]]


def test_jobs_created_while_paging_do_not_shift_the_pages_still_to_come() -> None:
    items = numbered(5)
    first = page(items, 2, "")
    items.append((6, "job6"))
    second = page(items, 2, first.next_page_token)
    assert (first.items, second.items) == (["job5", "job4"], ["job3", "job2"])


def test_page_size_zero_means_the_default_and_large_sizes_are_capped() -> None:
    assert len(page(numbered(DEFAULT_PAGE_SIZE + 5), 0, "").items) == DEFAULT_PAGE_SIZE
    assert len(page(numbered(MAX_PAGE_SIZE + 5), 10**6, "").items) == MAX_PAGE_SIZE


def test_a_page_stops_before_its_jobs_weigh_more_than_the_limit_and_the_next_page_goes_on_from_there() -> None:
    heavy = MAX_PAGE_WEIGHT // 3 + 1  # three of these are over the limit
    listed = page(numbered(7), 50, "", weigh=lambda item: heavy)
    assert listed.items == ["job7", "job6"]
    assert page(numbered(7), 50, listed.next_page_token, weigh=lambda item: heavy).items == ["job5", "job4"]


def test_one_job_heavier_than_the_limit_still_makes_a_page_of_its_own() -> None:
    listed = page(numbered(2), 50, "", weigh=lambda item: MAX_PAGE_WEIGHT * 2)
    assert listed.items == ["job2"] and listed.next_page_token


@pytest.mark.parametrize(
    ("size", "token", "field"), [(-1, "", "page_size"), (2, "not-a-token", "page_token"), (2, "x" * 129, "page_token")]
)
def test_a_negative_size_or_a_made_up_token_is_refused_by_field(size: int, token: str, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        page(numbered(3), size, token)
    assert [v.field for v in caught.value.violations] == [field]


def test_a_job_that_cannot_be_shown_is_passed_over_without_ending_the_pages() -> None:
    items: list[tuple[int, str | None]] = [(1, "job1"), (2, None), (3, None), (4, "job4")]
    assert all_pages(items, 2) == [["job4"], ["job1"]]
    assert all_pages([(1, None), (2, None), (3, None)], 2) == [[], []]
