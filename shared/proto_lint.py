"""`buf lint` and `buf breaking` for protos/, offline, with the buf of the running venv (buf-bin).

    python -m shared.proto_lint                    # lint, then breaking against the baseline (CI runs this)
    python -m shared.proto_lint --write-baseline   # rewrite protos/buf-baseline.binpb

The Buf Schema Registry is out of reach, so google/rpc/status.proto cannot come from buf.build: each run
builds a temporary workspace holding a copy of buf.yaml, a link to protos/ and googleapis/google/rpc/
with the .proto files that googleapis-common-protos installs (the same ones protoc compiles against in
shared.proto_codegen). google/protobuf/*.proto are buf's own well-known types.

The baseline is the API as released: rewrite it on purpose only, when a change has been accepted as the
new contract (a new field, RPC or message; a breaking change only while no client depends on it), and
commit it with that change. Never rewrite it to silence `buf breaking`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.proto_codegen import PROJECT_ROOT, PROTO_ROOT, googleapis_root

BUF_CONFIG = PROJECT_ROOT / "buf.yaml"
BASELINE = PROTO_ROOT / "buf-baseline.binpb"
MODULE = "protos"  # the module's path in buf.yaml
THIRD_PARTY = "googleapis"  # the other module of buf.yaml, filled here


def buf_executable() -> Path:
    path = Path(sys.executable).parent / "buf"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: install the test extra (buf-bin)")
    return path


@contextmanager
def workspace(proto_root: Path = PROTO_ROOT) -> Iterator[Path]:
    """A temporary buf workspace: buf.yaml, the protos (a link) and the googleapis protos (copies)."""
    with tempfile.TemporaryDirectory(prefix="buf-workspace-") as tmp:
        root = Path(tmp)
        shutil.copyfile(BUF_CONFIG, root / "buf.yaml")
        (root / MODULE).symlink_to(proto_root.resolve(), target_is_directory=True)
        rpc = root / THIRD_PARTY / "google" / "rpc"
        rpc.mkdir(parents=True)
        for proto in sorted((googleapis_root() / "google" / "rpc").glob("*.proto")):
            shutil.copyfile(proto, rpc / proto.name)
        yield root


def run_buf(*args: str, proto_root: Path = PROTO_ROOT) -> int:
    """Run buf in a fresh workspace of proto_root; its findings go to stdout, its exit code is returned."""
    with workspace(proto_root) as root:
        return subprocess.run([str(buf_executable()), *args], cwd=root, check=False).returncode


def lint(proto_root: Path = PROTO_ROOT) -> int:
    return run_buf("lint", MODULE, proto_root=proto_root)


def breaking(proto_root: Path = PROTO_ROOT, against: Path = BASELINE) -> int:
    return run_buf("breaking", MODULE, "--exclude-imports", "--against", str(against.resolve()), proto_root=proto_root)


def write_baseline(out: Path = BASELINE) -> int:
    """The module's files and their imports, without comments: an image that changes only with the API."""
    return run_buf("build", MODULE, "--exclude-source-info", "-o", str(out.resolve()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-baseline", action="store_true", help=f"rewrite {BASELINE.relative_to(PROJECT_ROOT)}")
    args = parser.parse_args(argv)
    if args.write_baseline:
        return write_baseline()
    failed = lint()
    if failed:
        print("buf lint found the problems above", file=sys.stderr)
        return failed
    failed = breaking()
    if failed:
        print(f"buf breaking: the protos break {BASELINE.relative_to(PROJECT_ROOT)} (see above)", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
