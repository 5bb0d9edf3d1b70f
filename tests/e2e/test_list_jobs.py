"""ListTrainingJobs over gRPC: every job, newest first, a page at a time (AIP-158)."""

from __future__ import annotations

import grpc
import pytest

from shared.api import training_service_pb2 as pb
from shared.grpc_util.errors import error_details

pytestmark = pytest.mark.integration


def list_all(services, page_size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        response = services.stub.ListTrainingJobs(pb.ListTrainingJobsRequest(page_size=page_size, page_token=token))
        pages.append([job.name for job in response.training_jobs])
        token = response.next_page_token
        if not token:
            return pages


def test_jobs_are_listed_newest_first_across_pages(services, tmp_path):
    # Jobs whose archive does not exist end at once (FAILED, NOT_FOUND): cheap to make several.
    created = [services.create(training_data_url=str(tmp_path / f"absent{i}.zip")).name for i in range(5)]

    pages = list_all(services, 2)

    names = [name for chunk in pages for name in chunk]
    assert all(len(chunk) == 2 for chunk in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert len(names) == len(set(names))
    mine = [name for name in names if name in created]
    assert mine == created[::-1]
    job = services.stub.ListTrainingJobs(pb.ListTrainingJobsRequest(page_size=1)).training_jobs[0]
    assert job.name == names[0] and job.input.training_data_url  # full job records, not just names


BAD_PAGES = [({"page_size": -3}, "page_size"), ({"page_token": "x"}, "page_token")]


@pytest.mark.parametrize(("request_fields", "field"), BAD_PAGES)
def test_a_bad_page_request_names_its_field(services, request_fields, field):
    with pytest.raises(grpc.RpcError) as caught:
        services.stub.ListTrainingJobs(pb.ListTrainingJobsRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request, info = error_details(caught.value)
    assert [v.field for v in bad_request.field_violations] == [field]
    assert info.reason == "INVALID_LIST_REQUEST"
