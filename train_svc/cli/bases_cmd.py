"""`ltx-trainer bases --target HOST:PORT`: ListBaseModels on a running service, one base a line.

Each line is the base's id, its LTX version and, for the default one, "(default)": what a request's
base_model may name. Exits 0, or 2/3 as the other remote commands do when the call fails.
"""

from __future__ import annotations

import argparse
import sys

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from train_svc.cli.credentials import add_credential_arguments, credentials_from_args
from train_svc.cli.exit_codes import ExitCode, exit_code

TIMEOUT_S = 30.0


def add_bases_parser(sub: argparse._SubParsersAction) -> None:
    bases = sub.add_parser("bases", help="list the base models a service hosts (ListBaseModels)")
    bases.add_argument("--target", required=True, help="HOST:PORT of the TrainingService")
    add_credential_arguments(bases)


def run_bases(args: argparse.Namespace) -> int:
    from shared.grpc_util.channels import sync_channel
    from shared.grpc_util.errors import describe_rpc_error

    with sync_channel(args.target, credentials_from_args(args)) as channel:
        try:
            listed = pb_grpc.TrainingServiceStub(channel).ListBaseModels(pb.ListBaseModelsRequest(), timeout=TIMEOUT_S)
        except grpc.RpcError as err:
            print(f"error: cannot list the base models\n{describe_rpc_error(err)}", file=sys.stderr)
            return exit_code(err.code())
    for base in listed.base_models:
        print(f"{base.id}\tLTX-{base.ltx_version}{'  (default)' if base.default else ''}")
    return ExitCode.OK
