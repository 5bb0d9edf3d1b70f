"""From what a call presents to the principal it acts as; every refusal names its reason."""

from __future__ import annotations

import pytest

from shared.auth import LOCAL_CALLER, Authenticator, AuthSettings, Unauthenticated
from shared.auth.settings import AuthConfigError
from shared.auth.token_table import token_digest_line


@pytest.fixture
def token_settings(tmp_path) -> AuthSettings:
    path = tmp_path / "tokens"
    lines = [token_digest_line(p, f"{p}-token") for p in ("alice", "ops", "train-service")]
    path.write_text("\n".join(lines) + "\n")
    return AuthSettings(tokens_file=path, admin_principals=frozenset({"ops"}))


def test_without_authentication_every_call_is_the_local_principal_who_may_do_everything():
    caller = Authenticator(AuthSettings()).authenticate([], None)
    assert caller == LOCAL_CALLER and caller.admin and caller.internal


def test_a_known_token_is_its_principal_with_its_roles(token_settings):
    authenticator = Authenticator(token_settings)
    alice = authenticator.authenticate(["Bearer alice-token"], None)
    assert (alice.principal, alice.admin, alice.internal) == ("alice", False, False)
    assert authenticator.authenticate(["bearer ops-token"], None).admin
    assert authenticator.authenticate(["Bearer train-service-token"], None).internal


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ([], "MISSING_CREDENTIALS"),
        (["Basic YWxpY2U6eA=="], "MALFORMED_AUTHORIZATION"),
        (["Bearer"], "MALFORMED_AUTHORIZATION"),
        (["Bearer a b"], "MALFORMED_AUTHORIZATION"),
        (["Bearer alice-token", "Bearer alice-token"], "MALFORMED_AUTHORIZATION"),
        (["Bearer " + "x" * 5000], "MALFORMED_AUTHORIZATION"),
        (["Bearer bob-token"], "INVALID_TOKEN"),
        (["Bearer alice-token "], None),
    ],
)
def test_bad_authorization_is_refused_with_its_reason(token_settings, authorization, reason):
    authenticator = Authenticator(token_settings)
    if reason is None:
        assert authenticator.authenticate(authorization, None).principal == "alice"
        return
    with pytest.raises(Unauthenticated) as caught:
        authenticator.authenticate(authorization, None)
    assert caught.value.reason == reason and caught.value.code.name == "UNAUTHENTICATED"


def test_with_client_certificates_the_certificate_names_the_caller_and_a_token_must_agree(token_settings, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("unused here: the TLS layer verified the certificate")
    settings = AuthSettings(tokens_file=token_settings.tokens_file, tls_cert=ca, tls_key=ca, tls_client_ca=ca)
    authenticator = Authenticator(settings)
    assert authenticator.authenticate([], "alice").principal == "alice"
    assert authenticator.authenticate(["Bearer alice-token"], "alice").principal == "alice"
    with pytest.raises(Unauthenticated) as caught:
        authenticator.authenticate(["Bearer ops-token"], "alice")
    assert caught.value.reason == "CREDENTIALS_DISAGREE"
    for nameless in (None, "", " padded", "bad\x00name", "x" * 300):
        with pytest.raises(Unauthenticated) as caught:
            authenticator.authenticate([], nameless)
        assert caught.value.reason == "CERTIFICATE_WITHOUT_IDENTITY"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com"])
def test_listening_beyond_loopback_without_authentication_needs_insecure(host):
    with pytest.raises(AuthConfigError, match="--insecure"):
        AuthSettings().check(host)
    AuthSettings(insecure=True).check(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_authentication(host):
    AuthSettings().check(host)


def test_tls_settings_that_cannot_work_are_refused(tmp_path):
    pem = tmp_path / "x.pem"
    with pytest.raises(AuthConfigError, match="go together"):
        AuthSettings(tls_cert=pem).check("127.0.0.1")
    with pytest.raises(AuthConfigError, match="needs --tls-cert"):
        AuthSettings(tls_client_ca=pem).check("127.0.0.1")


def test_settings_naming_a_missing_or_bad_file_are_refused_before_the_service_starts(tmp_path):
    with pytest.raises(AuthConfigError, match="not a readable file"):
        AuthSettings(tls_cert=tmp_path / "nope.pem", tls_key=tmp_path / "nope.key").check("127.0.0.1")
    bad = tmp_path / "tokens"
    bad.write_text("alice plaintext-token\n")
    with pytest.raises(AuthConfigError, match="line 1"):
        AuthSettings(tokens_file=bad).check("0.0.0.0")
