"""Who may open a browser session: bind policy, token sources, token checks, same origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.web.access import (
    COOKIE_NAME,
    TOKEN_ENV,
    TokenGate,
    WebConfigError,
    is_loopback,
    load_token,
    require_auth_off_loopback,
    same_origin,
)

TOKEN = "0123456789abcdef0123"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_addresses_need_no_token(host: str) -> None:
    assert is_loopback(host)
    require_auth_off_loopback(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "head.example.org", ""])
def test_any_other_address_refuses_to_start_without_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(WebConfigError, match="without authentication") as caught:
        require_auth_off_loopback(host, None)
    assert "\n" not in str(caught.value)
    require_auth_off_loopback(host, TOKEN)


def test_token_comes_from_the_flag_file_then_environment_then_config(tmp_path: Path) -> None:
    flag_file = tmp_path / "flag-token"
    flag_file.write_text("flag-token-0123456789\n")
    config_file = tmp_path / "config-token"
    config_file.write_text("config-token-0123456789")
    env = {TOKEN_ENV: "env-token-0123456789"}
    assert load_token(flag_file, env, str(config_file)) == "flag-token-0123456789"
    assert load_token(None, env, str(config_file)) == "env-token-0123456789"
    assert load_token(None, {}, str(config_file)) == "config-token-0123456789"
    assert load_token(None, {}, "") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("  \n", "is empty"), ("short", "at least 16")],
)
def test_unusable_token_files_are_refused_in_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(WebConfigError, match=message) as caught:
        load_token(path, {}, "")
    assert "\n" not in str(caught.value)


def test_a_weak_environment_token_is_refused() -> None:
    with pytest.raises(WebConfigError, match="at least 16"):
        load_token(None, {TOKEN_ENV: "letmein"}, "")


def test_gate_accepts_the_token_in_header_bearer_query_or_its_cookie() -> None:
    gate = TokenGate(TOKEN)
    assert gate.accepts({"X-Clusterdash-Token": TOKEN}, {}, {})
    assert gate.accepts({"Authorization": f"Bearer {TOKEN}"}, {}, {})
    assert gate.accepts({}, {}, {"token": TOKEN})
    assert gate.accepts({}, {COOKIE_NAME: gate.cookie_value}, {})
    assert gate.token_in_query({"token": TOKEN})


def test_gate_refuses_missing_wrong_and_raw_token_cookies() -> None:
    gate = TokenGate(TOKEN)
    assert not gate.accepts({}, {}, {})
    assert not gate.accepts({"X-Clusterdash-Token": TOKEN + "x"}, {}, {})
    assert not gate.accepts({"Authorization": f"Basic {TOKEN}"}, {}, {})
    assert not gate.accepts({}, {}, {"token": TOKEN[:-1]})
    # The cookie is derived from the token, so a leaked cookie is not the token, and vice versa.
    assert gate.cookie_value != TOKEN
    assert not gate.accepts({}, {COOKIE_NAME: TOKEN}, {})
    assert not gate.accepts({}, {}, {"token": "é" * 20})


def test_websockets_must_come_from_a_page_this_server_served() -> None:
    assert same_origin("http://head:3000", "head:3000")
    assert same_origin(None, "head:3000")  # not a browser
    assert not same_origin("https://evil.example", "head:3000")
    assert not same_origin("http://head:3001", "head:3000")
    assert not same_origin("http://head:3000", None)
