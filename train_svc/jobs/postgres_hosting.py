"""Which bases each live replica hosts, in the shared PostgreSQL store (table training_replicas).

A replica announces the keys of its bases (store_contract.base_key) with an expiry, renewed as often as its
leases; a claim admits a job by its own key, the id in its stored request (absent: "", the default of
whichever replica runs it) joined to its LTX version (`JOB_BASE_KEY`).
"""

from __future__ import annotations

from train_svc.jobs.store_contract import Hosting

JOB_BASE_KEY = "(coalesce(input_json::jsonb ->> 'base_model', '') || '@' || base_version)"
ANNOUNCE = (
    b"INSERT INTO training_replicas (replica, hosted, expires) VALUES (%s, %s, now() + make_interval(secs => %s)) "
    b"ON CONFLICT (replica) DO UPDATE SET hosted = excluded.hosted, expires = excluded.expires"
)
PRUNE_ANNOUNCEMENTS = b"DELETE FROM training_replicas WHERE expires < now()"
WITHDRAW = b"DELETE FROM training_replicas WHERE replica = %s"


def claim_condition(hosting: Hosting | None) -> tuple[str, tuple[object, ...]]:
    """The condition a claim adds to its candidates for `hosting` (none for None), and its parameters: the
    job's base is one of the claimer's, or (when `hosting.unhosted`) one no live replica announces."""
    if hosting is None:
        return "", ()
    condition = (
        f" AND ({JOB_BASE_KEY} = ANY(%s) OR (%s AND NOT EXISTS (SELECT 1 FROM training_replicas r "
        f"WHERE r.expires >= now() AND {JOB_BASE_KEY} = ANY(r.hosted))))"
    )
    return condition, (list(hosting.keys), hosting.unhosted)
