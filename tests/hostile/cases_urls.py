"""URLs: where training_data_url may not lead, refused at CreateTrainingJob when that can be known, else
the job fails before billing. All traffic stays on 127.0.0.1 (the corpus's HTTP server): other
addresses are refused before any connection is tried."""

from __future__ import annotations

import os
from urllib.parse import quote

from tests.hostile.corpus import CORPUS, Outcome

INVALID = "INVALID_ARGUMENT"


def _refused_at_create(name: str, url) -> None:
    @CORPUS.add("urls", name, INVALID, "INVALID_TRAINING_INPUT")
    def act(world) -> Outcome:
        return world.create(training_data_url=url(world) if callable(url) else url)


_refused_at_create("file_url_outside_the_allowed_folder", "file:///etc/passwd")
_refused_at_create("absolute_path_outside_the_allowed_folder", "/etc/passwd")
_refused_at_create("relative_path", "clips.zip")
_refused_at_create("path_climbing_out_of_the_allowed_folder", lambda w: f"{w.allowed}/../../../../etc/passwd")
_refused_at_create("ftp_url", "ftp://example.com/clips.zip")
_refused_at_create("gopher_url", "gopher://example.com/1clips")
_refused_at_create("javascript_url", "javascript:alert(1)")
_refused_at_create("file_url_with_a_remote_host", "file://fileserver/share/clips.zip")
_refused_at_create("url_with_credentials", "https://user:secret@example.com/clips.zip")
_refused_at_create("loopback_outside_the_allow_list", "http://127.0.0.2/clips.zip")
_refused_at_create("ipv6_loopback", "http://[::1]/clips.zip")
_refused_at_create("hex_loopback", "http://0x7f.0.0.2/clips.zip")
_refused_at_create("decimal_loopback", "http://2130706434/clips.zip")
_refused_at_create("octal_loopback", "http://0177.0.0.2/clips.zip")
_refused_at_create("short_loopback", "http://127.2/clips.zip")
_refused_at_create("ipv4_mapped_loopback", "http://[::ffff:127.0.0.2]/clips.zip")
_refused_at_create("nat64_loopback", "http://[64:ff9b::7f00:2]/clips.zip")
_refused_at_create("sixtofour_loopback", "http://[2002:7f00:2::1]/clips.zip")
_refused_at_create("cloud_metadata_endpoint", "http://169.254.169.254/latest/meta-data/")
_refused_at_create("private_address", "http://10.1.2.3/clips.zip")
_refused_at_create("shared_address_space", "http://100.64.0.1/clips.zip")
_refused_at_create("unique_local_ipv6", "http://[fd00::1]/clips.zip")
_refused_at_create("link_local_ipv6_with_a_zone", "http://[fe80::1%25lo]/clips.zip")
_refused_at_create("multicast", "http://224.0.0.1/clips.zip")
_refused_at_create("unspecified", "http://0.0.0.0/clips.zip")
_refused_at_create("upload_id_not_hex", "upload://../../datasets/x")
_refused_at_create("file_inside_the_service_storage", lambda w: str(w.stack.storage / "train_svc" / "jobs.sqlite3"))


@CORPUS.add("urls", "link_in_the_allowed_folder_pointing_outside", INVALID, "INVALID_TRAINING_INPUT")
def _symlink(world) -> Outcome:
    link = world.allowed / "innocent.zip"
    if not link.is_symlink():
        os.symlink("/etc/passwd", link)
    return world.create(training_data_url=str(link))


def _fails_when_fetched(name: str, code: str, reason: str, path) -> None:
    @CORPUS.add("urls", name, code, reason)
    def act(world) -> Outcome:
        return world.job_outcome(f"{world.http.base_url}{path(world) if callable(path) else path}")


def _redirect_to(target) -> object:
    return lambda world: "/redirect?to=" + quote(target(world) if callable(target) else target, safe="")


_fails_when_fetched(
    "redirect_to_loopback_outside_the_allow_list",
    INVALID,
    "FETCH_BLOCKED",
    _redirect_to(lambda w: f"http://127.0.0.2:{w.http.port}/clips.zip"),
)
_fails_when_fetched(
    "redirect_to_ipv6_loopback", INVALID, "FETCH_BLOCKED", _redirect_to(lambda w: f"http://[::1]:{w.http.port}/x.zip")
)
_fails_when_fetched("redirect_to_metadata_endpoint", INVALID, "FETCH_BLOCKED", _redirect_to("http://169.254.169.254/"))
_fails_when_fetched("redirect_to_a_private_address", INVALID, "FETCH_BLOCKED", _redirect_to("http://10.0.0.1/x.zip"))
_fails_when_fetched("redirect_to_a_hex_spelling", INVALID, "FETCH_BLOCKED", _redirect_to("http://0x7f000002/x.zip"))
_fails_when_fetched("redirect_to_a_local_file", INVALID, "FETCH_BLOCKED", _redirect_to("file:///etc/passwd"))
_fails_when_fetched("six_redirects", "UNAVAILABLE", "FETCH_FAILED", "/chain/6/clips.zip")
_fails_when_fetched("body_trickled_past_the_deadline", "UNAVAILABLE", "FETCH_FAILED", "/trickle/100")
_fails_when_fetched("headers_trickled_past_the_deadline", "UNAVAILABLE", "FETCH_FAILED", "/trickle-headers")
_fails_when_fetched("server_that_never_answers", "UNAVAILABLE", "FETCH_FAILED", "/stall/30")
_fails_when_fetched("not_found", "NOT_FOUND", "NOT_FOUND", "/no-such.zip")
_fails_when_fetched("server_error", "UNAVAILABLE", "FETCH_FAILED", "/status/500")


@CORPUS.add("urls", "a_page_that_is_not_a_zip", INVALID, "NOT_A_ZIP")
def _html(world) -> Outcome:
    (world.http.root / "page.zip").write_text("<html>not an archive</html>")
    return world.job_outcome(f"{world.http.base_url}/page.zip")


@CORPUS.add("urls", "a_closed_loopback_port", "UNAVAILABLE", "FETCH_FAILED")
def _closed(world) -> Outcome:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago, on the allowed address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return world.job_outcome(f"http://127.0.0.1:{port}/clips.zip")
