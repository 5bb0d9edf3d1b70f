"""The committed stubs in shared/api/gen are exactly what the .proto files generate."""

from pathlib import Path

from shared import proto_codegen

COMMITTED = Path(proto_codegen.__file__).parent / "api" / "gen"


def _stub_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*.py*"))
        if "__pycache__" not in path.parts
    }


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    proto_codegen.generate(tmp_path)
    fresh, committed = _stub_files(tmp_path), _stub_files(COMMITTED)
    assert sorted(fresh) == sorted(committed), "regenerate with: python -m shared.proto_codegen"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stubs differ from the protos: {stale}; regenerate with: python -m shared.proto_codegen"
