"""`ltx-trainer delete trainingJobs/ID --target HOST:PORT [--force]`: DeleteTrainingJob on a running service.

Exits 0 when the job is deleted, 2 when it is refused (unknown job, not ended without --force), 3 when
the service cannot be reached or the job did not stop in time (JOB_STILL_STOPPING: run it again).
"""

from __future__ import annotations

import argparse
import sys

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from train_svc.cli.credentials import add_credential_arguments, credentials_from_args
from train_svc.cli.exit_codes import ExitCode, exit_code

TIMEOUT_S = 90.0  # above the service's wait for a forced job to stop


def add_delete_parser(sub: argparse._SubParsersAction) -> None:
    delete = sub.add_parser("delete", help="delete a job and its files on the service (DeleteTrainingJob)")
    delete.add_argument("job", help="trainingJobs/ID (or the bare ID)")
    delete.add_argument("--target", required=True, help="HOST:PORT of the TrainingService")
    delete.add_argument("--force", action="store_true", help="also a job that has not ended: cancel it first")
    add_credential_arguments(delete)


def run_delete(args: argparse.Namespace) -> int:
    from shared.grpc_util.channels import sync_channel
    from shared.grpc_util.errors import describe_rpc_error

    name = args.job if args.job.startswith("trainingJobs/") else f"trainingJobs/{args.job}"
    with sync_channel(args.target, credentials_from_args(args)) as channel:
        try:
            pb_grpc.TrainingServiceStub(channel).DeleteTrainingJob(
                pb.DeleteTrainingJobRequest(name=name, force=args.force), timeout=TIMEOUT_S
            )
        except grpc.RpcError as err:
            print(f"error: {name} not deleted\n{describe_rpc_error(err)}", file=sys.stderr)
            return exit_code(err.code())
    print(f"deleted {name}")
    return ExitCode.OK
