"""The rules both services apply to a training archive's URL: which schemes, hosts, addresses and local
paths may be fetched (see addresses, local_paths, sources), the limits of a fetch (policy), and the
check made when a job is created (create_time). No grpc here.
"""

from shared.fetch_policy.addresses import BlockedHost, IPAddress, IPNetwork, blocked_because, host_literal
from shared.fetch_policy.create_time import create_time_problem
from shared.fetch_policy.local_paths import local_path_problem
from shared.fetch_policy.policy import FetchPolicy, Resolver, parse_cidrs, system_resolver
from shared.fetch_policy.sources import HttpSource, LocalSource, Source, SourceProblem, UploadSource, parse_source

__all__ = [
    "BlockedHost",
    "FetchPolicy",
    "HttpSource",
    "IPAddress",
    "IPNetwork",
    "LocalSource",
    "Resolver",
    "Source",
    "SourceProblem",
    "UploadSource",
    "blocked_because",
    "create_time_problem",
    "host_literal",
    "local_path_problem",
    "parse_cidrs",
    "parse_source",
    "system_resolver",
]
