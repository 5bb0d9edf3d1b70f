"""Every class of the corpus, registered in CORPUS by importing its module."""

from tests.hostile import (  # noqa: F401 - imported for their registrations
    cases_archives,
    cases_media,
    cases_metadata,
    cases_requests,
    cases_tenancy,
    cases_urls,
)
from tests.hostile.corpus import CORPUS

__all__ = ["CORPUS"]
