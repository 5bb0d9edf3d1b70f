"""buf lint (STANDARD) finds nothing in protos/, and buf breaking holds them to the committed baseline image."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared import proto_lint
from shared.proto_codegen import PROTO_ROOT


def test_buf_lint_finds_nothing() -> None:
    assert proto_lint.lint() == 0


def test_the_protos_break_nothing_in_the_baseline() -> None:
    assert proto_lint.breaking() == 0


def test_a_deleted_field_breaks_the_baseline(tmp_path: Path) -> None:
    protos = tmp_path / "protos"
    shutil.copytree(PROTO_ROOT, protos)
    common = protos / "ltx" / "trainer" / "v1" / "common.proto"
    text = common.read_text()
    field = "  string sha256 = 3;\n"
    assert text.count(field) == 2  # BundleRef's and Artifact's
    common.write_text(text.replace(field, "", 1))
    assert proto_lint.lint(protos) == 0
    assert proto_lint.breaking(protos) != 0
