"""Generate the Python API modules from protos/ with grpcio-tools, typed stubs with mypy-protobuf.

The generated modules are committed under shared/api/gen so that an installed wheel needs no protoc;
tests/api/test_api_stubs.py regenerates them into a temporary folder and fails when they drift.
Besides *_pb2.py and *_pb2_grpc.py, mypy-protobuf's plugins (protoc-gen-mypy, protoc-gen-mypy_grpc,
from the venv's bin folder) write *_pb2.pyi and *_pb2_grpc.pyi, so a type checker sees every message
field and every stub method with its types. protoc and the plugins write imports as
`from ltx.trainer.v1 import x_pb2`; they are rewritten to live under `shared.api.gen` so the API does
not claim a top-level `ltx` package.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = PROJECT_ROOT / "protos"
GEN_PACKAGE = "shared.api.gen"
_IMPORT = re.compile(r"^from ltx\.trainer\.v1 import ", re.MULTILINE)


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted(root.glob("ltx/trainer/v1/*.proto"))


def googleapis_root() -> Path:
    """The folder holding google/rpc/*.proto: googleapis-common-protos ships them beside its modules."""
    import google.rpc

    return Path(google.rpc.__path__[0]).parent.parent


def _include_paths() -> list[str]:
    import grpc_tools

    grpc_tools_protos = Path(str(resources.files(grpc_tools) / "_proto"))
    return [str(PROTO_ROOT), str(grpc_tools_protos), str(googleapis_root())]


def _plugins() -> list[str]:
    """protoc's --plugin arguments for mypy-protobuf, from the bin folder of the running interpreter."""
    bin_dir = Path(sys.executable).parent
    plugins = []
    for name in ("protoc-gen-mypy", "protoc-gen-mypy_grpc"):
        path = bin_dir / name
        if not path.is_file():
            raise RuntimeError(f"{path} is missing: install the test extra (mypy-protobuf)")
        plugins.append(f"--plugin={name}={path}")
    return plugins


def generate(out_dir: Path) -> list[Path]:
    """Write *_pb2.py, *_pb2_grpc.py and their .pyi stubs for every proto into out_dir; return the files."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc"]
    args += [f"-I{p}" for p in _include_paths()]
    args += _plugins()
    args += [f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += [f"--mypy_out=quiet:{out_dir}", f"--mypy_grpc_out=quiet:{out_dir}"]
    args += [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see its messages above")
    written = []
    for path in sorted(out_dir.rglob("*.py*")):
        text = _IMPORT.sub(f"from {GEN_PACKAGE}.ltx.trainer.v1 import ", path.read_text())
        path.write_text(text)
        written.append(path)
    for package_dir in {p.parent for p in written} | {out_dir / "ltx", out_dir / "ltx/trainer"}:
        (package_dir / "__init__.py").touch()
    (out_dir / "__init__.py").touch()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "api" / "gen")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
