"""The token file: its format, its principals, and re-reading it when it changes."""

from __future__ import annotations

import os

import pytest

from shared.auth.token_table import TokenFileError, TokenTable, token_digest_line


def _write(path, *lines: str) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_tokens_name_their_principals_and_comments_and_blank_lines_are_ignored(tmp_path):
    path = tmp_path / "tokens"
    _write(
        path, "# team tokens", "", token_digest_line("alice", "a-token"), token_digest_line("bob", "b-token") + "  # ci"
    )
    table = TokenTable(path)
    assert table.principal_of("a-token") == "alice"
    assert table.principal_of("b-token") == "bob"
    assert table.principal_of("c-token") is None
    assert table.principal_of("") is None


def test_a_principal_may_hold_two_tokens_while_one_is_rotated(tmp_path):
    path = tmp_path / "tokens"
    _write(path, token_digest_line("alice", "old"), token_digest_line("alice", "new"))
    table = TokenTable(path)
    assert table.principal_of("old") == table.principal_of("new") == "alice"


@pytest.mark.parametrize(
    "line",
    [
        "alice",
        "alice sha256:1234",
        "alice md5:" + "0" * 64,
        "alice sha256:" + "g" * 64,
        "alice bob sha256:" + "0" * 64,
    ],
)
def test_a_bad_line_stops_the_service_from_starting_and_names_the_line(tmp_path, line):
    path = tmp_path / "tokens"
    _write(path, "# ok", line)
    with pytest.raises(TokenFileError, match="line 2"):
        TokenTable(path)


def test_the_same_token_for_two_principals_is_refused(tmp_path):
    path = tmp_path / "tokens"
    _write(path, token_digest_line("alice", "same"), token_digest_line("bob", "same"))
    with pytest.raises(TokenFileError, match="two principals"):
        TokenTable(path)


def test_a_missing_file_stops_the_service_from_starting(tmp_path):
    with pytest.raises(TokenFileError, match="cannot use the token file"):
        TokenTable(tmp_path / "absent")


def test_a_changed_file_is_read_again_without_a_restart(tmp_path):
    path = tmp_path / "tokens"
    _write(path, token_digest_line("alice", "first"))
    table = TokenTable(path)
    assert table.principal_of("first") == "alice"

    replacement = tmp_path / "tokens.new"  # replaced as a Kubernetes Secret volume does: a new file renamed in
    _write(replacement, token_digest_line("alice", "second"), token_digest_line("carol", "third"))
    os.replace(replacement, path)

    assert table.principal_of("first") is None
    assert table.principal_of("second") == "alice"
    assert table.principal_of("third") == "carol"


def test_a_file_changed_into_nonsense_keeps_the_last_good_tokens(tmp_path):
    path = tmp_path / "tokens"
    _write(path, token_digest_line("alice", "first"))
    table = TokenTable(path)
    _write(path, "this is not a token line", token_digest_line("mallory", "evil"))
    assert table.principal_of("first") == "alice"
    assert table.principal_of("evil") is None
