"""Admission rules without sockets: which Host names are loopback, and the admin check."""

from __future__ import annotations

import pytest

from app.admission.auth import AuthError, check_admin, is_loopback_name


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST:8000", "app.localhost:8000", "127.0.0.1", "127.0.0.1:8000",
     "127.8.9.10", "[::1]", "[::1]:8000", "localhost."],
)  # fmt: skip
def test_loopback_names(host: str) -> None:
    assert is_loopback_name(host)


@pytest.mark.parametrize(
    "host",
    [None, "", "evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io",
     "10.0.0.1", "[::2]:80", "0.0.0.0", "[::ffff:7f00:1]x"],
)  # fmt: skip
def test_other_names(host: str | None) -> None:
    assert not is_loopback_name(host)


def test_without_a_token_peer_name_and_site_must_all_be_local() -> None:
    check_admin(None, "127.0.0.1", None, host="localhost:8000", fetch_site="same-origin")
    with pytest.raises(AuthError, match="only available from loopback"):
        check_admin(None, "10.0.0.5", None, host="localhost")
    with pytest.raises(AuthError, match="loopback name"):
        check_admin(None, "127.0.0.1", None, host="rebound.example")
    with pytest.raises(AuthError, match="cross-site"):
        check_admin(None, "127.0.0.1", None, host="localhost", origin="http://evil.example")
    with pytest.raises(AuthError, match="cross-site"):
        check_admin(None, "127.0.0.1", None, host="localhost", fetch_site="same-site")


def test_a_token_is_compared_as_bytes() -> None:
    check_admin("Bearer s3cret", "10.0.0.5", "s3cret")
    for header in ("Bearer s\u00e9cret", "Bearer \udcff", "Basic s3cret", None):
        with pytest.raises(AuthError) as refused:
            check_admin(header, "10.0.0.5", "s3cret")
        assert refused.value.status == 401
