"""Who may open a browser session: bind policy, the token, and same-origin WebSockets.

Pure functions over strings and mappings, so they are tested without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TOKEN_ENV = "CLUSTERDASH_SERVE_TOKEN"
TOKEN_HEADER = "X-Clusterdash-Token"
TOKEN_QUERY = "token"
COOKIE_NAME = "clusterdash_session"
MIN_TOKEN_LENGTH = 16
_COOKIE_CONTEXT = b"clusterdash web session cookie v1"


class WebConfigError(ValueError):
    """`clusterdash serve` cannot start as asked; the message is one line."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_token_file(path: Path, origin: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise WebConfigError(f"{origin}: token file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise WebConfigError(f"{origin}: cannot read token file {path}: {error}") from None
    if not token:
        raise WebConfigError(f"{origin}: token file {path} is empty")
    return token


def load_token(flag_file: Path | None, environ: Mapping[str, str], config_file: str) -> str | None:
    """The token browsers must present: --token-file, then the environment, then web.token_file."""
    if flag_file is not None:
        token = _read_token_file(flag_file, "--token-file")
    elif environ.get(TOKEN_ENV, "").strip():
        token = environ[TOKEN_ENV].strip()
    elif config_file:
        token = _read_token_file(Path(config_file).expanduser(), "web.token_file")
    else:
        return None
    if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise WebConfigError(
            f"the serve token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters"
            " (e.g. `openssl rand -hex 24`)"
        )
    return token


def require_auth_off_loopback(host: str, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise WebConfigError(
            f"refusing to serve on {host} without authentication: set {TOKEN_ENV} or"
            " --token-file, or bind 127.0.0.1 behind the nginx gateway (containers/nginx)"
        )


@dataclass(frozen=True)
class TokenGate:
    """Accepts the token (header, bearer or query) or the cookie derived from it."""

    token: str

    @property
    def cookie_value(self) -> str:
        return hmac.new(self.token.encode(), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()

    def _is_token(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def token_in_query(self, query: Mapping[str, str]) -> bool:
        return self._is_token(query.get(TOKEN_QUERY, ""))

    def accepts(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
    ) -> bool:
        bearer = headers.get("Authorization", "")
        scheme, _, credential = bearer.partition(" ")
        candidates = [headers.get(TOKEN_HEADER, ""), query.get(TOKEN_QUERY, "")]
        if scheme.lower() == "bearer":
            candidates.append(credential.strip())
        # Every candidate is compared, so timing does not tell which one was present.
        results = [self._is_token(candidate) for candidate in candidates]
        cookie = cookies.get(COOKIE_NAME, "")
        results.append(hmac.compare_digest(cookie.encode(), self.cookie_value.encode()))
        return any(results)


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser WebSocket must come from a page this server served (no cross-site hijacking)."""
    if origin is None:
        return True  # not a browser: nothing to hijack
    if not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()
