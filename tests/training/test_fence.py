"""The fence file: a writer outside the service (a training worker) writes only while the job's fence holds
its claim's token."""

from __future__ import annotations

import pytest

from train_svc.job_run.fence import check_fence, write_fence
from train_svc.jobs.store_contract import LeaseLost


def test_a_worker_of_an_older_claim_is_fenced_off_once_another_replica_claims_the_job(tmp_path):
    job_dir = tmp_path / "jobs" / "j1"
    with pytest.raises(LeaseLost, match="lease on job j1 \\(token 3\\) was lost"):
        check_fence(job_dir, 3)  # no fence yet: no claim to write for
    write_fence(job_dir, 3)
    check_fence(job_dir, 3)
    write_fence(job_dir, 4)  # another replica claims the job
    with pytest.raises(LeaseLost):
        check_fence(job_dir, 3)
    check_fence(job_dir, 4)
    assert [p.name for p in (job_dir / "run").iterdir()] == ["fence"], "no temporary file left"
