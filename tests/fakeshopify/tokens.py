"""Access tokens of one shop: static, client-credentials and expiring tokens, OAuth codes, scopes.

Mixin of :class:`FakeShop`; every method takes the shop's lock. The HTTP side (parsing the
token request, the authorize redirect) is :mod:`tests.fakeshopify.oauth`.

- The static token (``shop.token``) works until a token exchange migrates it away (or it is
  set to None).
- Client-credentials tokens: any number valid at once, each until its own expiry.
- Expiring pairs (refresh, token exchange, authorization code with ``expiring=1``,
  :meth:`Tokens.issue_expiring_pair`): only the newest pair's access token works. Issuing a pair
  revokes every other refresh token except the one just used, which stays valid (grace) until
  the new pair is first used: its refresh token in a refresh or its access token on GraphQL.
- ``clock`` (default ``time.monotonic``) measures every lifetime; tests may replace it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fakeshopify.scopes import DEFAULT_SCOPES, normalize_scopes

if TYPE_CHECKING:
    from tests.fakeshopify.limits import ShopConfig

CODE_LIFETIME = 600.0  # authorization codes: 10 minutes, single use
EXCHANGE_MEMORY = 7 * 86400.0  # the same token exchange answers the same pair for 7 days
GRANTS = ("client_credentials", "refresh_token", "token_exchange", "authorization_code",
          "invalid")  # fmt: skip


class GrantError(Exception):
    """An OAuth error answer: HTTP ``status`` with ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_grant(description: str) -> GrantError:
    return GrantError(400, "invalid_grant", description)


@dataclass
class _Access:
    kind: str  # "client_credentials" | "expiring"
    expires_at: float
    refresh: str | None = None  # the refresh token of its pair
    revoked: bool = False


@dataclass
class _Refresh:
    access: str
    expires_at: float
    predecessor: str | None  # the refresh token this pair replaced (valid until first use)
    revoked: bool = False


@dataclass
class _Code:
    expires_at: float
    scopes: list[str]
    used: bool = False


class Tokens:
    """Mixin of :class:`FakeShop`: token issuing, validation, revocation, scopes."""

    lock: threading.RLock
    config: ShopConfig
    token: str | None
    installed: bool

    def _init_tokens(self) -> None:
        self.clock: Callable[[], float] = time.monotonic
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, _Code] = {}
        self._exchanges: dict[str, tuple[float, dict[str, Any]]] = {}
        self._retired: set[str] = set()  # static tokens migrated away by token exchange
        self._scopes: list[str] = list(DEFAULT_SCOPES)
        self._token_requests: list[dict[str, Any]] = []

    # ------------------------------------------------------------ scopes
    @property
    def granted_scopes(self) -> list[str]:
        with self.lock:
            return list(self._scopes)

    def set_scopes(self, scopes: list[str] | str) -> None:
        """Replace the granted scopes (a list of handles, or one comma-separated string)."""
        with self.lock:
            self._scopes = normalize_scopes(scopes)

    def scope_string(self) -> str:
        with self.lock:
            return ",".join(self._scopes)

    # ------------------------------------------------------------ request log
    @property
    def token_requests(self) -> list[dict[str, Any]]:
        """``[{"grant", "status", "error", "time"}]``, one per token endpoint answer."""
        with self.lock:
            return [dict(entry) for entry in self._token_requests]

    def clear_token_requests(self) -> None:
        with self.lock:
            self._token_requests.clear()

    def record_token_request(self, grant: str, status: int, error: str | None = None) -> None:
        with self.lock:
            self._token_requests.append({"grant": grant, "status": status, "error": error,
                                         "time": time.time()})  # fmt: skip

    # ------------------------------------------------------------ validation (GraphQL)
    def token_valid(self, presented: str | None) -> bool:
        """Whether ``presented`` may call the Admin API (installation is checked elsewhere).
        Using a pair's access token is the pair's first use: its grace predecessor goes."""
        if not presented:
            return False
        with self.lock:
            if presented == self.token and presented not in self._retired:
                return True
            access = self._access.get(presented)
            if access is None or access.revoked or self.clock() >= access.expires_at:
                return False
            if access.refresh is not None:
                self._pair_used(access.refresh)
            return True

    def static_token_active(self) -> bool:
        with self.lock:
            return bool(self.token) and self.token not in self._retired

    def revoke_tokens(self) -> None:
        """Revoke every refresh token, expiring and client-credentials access token (the
        static token and remembered token exchanges stay)."""
        with self.lock:
            for access in self._access.values():
                access.revoked = True
            for refresh in self._refresh.values():
                refresh.revoked = True

    # ------------------------------------------------------------ issuing
    def _lifetime(self, name: str) -> int:
        return max(0, int(getattr(self.config, name)))

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, a in self._access.items() if a.revoked or now >= a.expires_at]:
            del self._access[key]
        for key in [k for k, r in self._refresh.items() if r.revoked or now >= r.expires_at]:
            del self._refresh[key]

    def _pair_used(self, refresh_token: str) -> None:
        refresh = self._refresh.get(refresh_token)
        if refresh is not None and refresh.predecessor is not None:
            old = self._refresh.get(refresh.predecessor)
            if old is not None:
                old.revoked = True
            refresh.predecessor = None

    def _issue_pair(self, predecessor: str | None = None) -> dict[str, Any]:
        self._prune()
        for access in self._access.values():
            if access.kind == "expiring":
                access.revoked = True
        for key, refresh in self._refresh.items():
            if key != predecessor:
                refresh.revoked = True
        now = self.clock()
        access_life = self._lifetime("access_token_lifetime_seconds")
        refresh_life = self._lifetime("refresh_token_lifetime_seconds")
        access_token = f"shpat_{secrets.token_hex(16)}"
        refresh_token = f"shprt_{secrets.token_hex(16)}"
        self._access[access_token] = _Access("expiring", now + access_life, refresh_token)
        self._refresh[refresh_token] = _Refresh(access_token, now + refresh_life, predecessor)
        return {"access_token": access_token, "scope": self.scope_string(),
                "expires_in": access_life, "refresh_token": refresh_token,
                "refresh_token_expires_in": refresh_life}  # fmt: skip

    def issue_expiring_pair(self) -> dict[str, Any]:
        """A new expiring pair (the token endpoint's answer), as if the app had just got it:
        older expiring access tokens and refresh tokens are revoked."""
        with self.lock:
            return self._issue_pair()

    def issue_code(self, scopes: list[str] | None = None) -> str:
        """An authorization code (10 minutes, single use); ``scopes`` become the granted
        scopes when it is exchanged (None or empty: the current ones)."""
        with self.lock:
            code = secrets.token_hex(16)
            self._codes[code] = _Code(self.clock() + CODE_LIFETIME, list(scopes or ()))
            return code

    # ------------------------------------------------------------ grants
    def _require_installed(self) -> None:
        if not self.installed:
            raise invalid_grant("The app is not installed on this shop.")

    def grant_client_credentials(self) -> dict[str, Any]:
        with self.lock:
            self._require_installed()
            self._prune()
            life = self._lifetime("client_credentials_lifetime_seconds")
            token = f"shpat_{secrets.token_hex(16)}"
            self._access[token] = _Access("client_credentials", self.clock() + life)
            return {"access_token": token, "scope": self.scope_string(), "expires_in": life}

    def grant_refresh(self, refresh_token: str) -> dict[str, Any]:
        with self.lock:
            self._require_installed()
            refresh = self._refresh.get(refresh_token)
            if refresh is None or refresh.revoked or self.clock() >= refresh.expires_at:
                raise invalid_grant("The refresh token is invalid, expired or revoked.")
            self._pair_used(refresh_token)
            return self._issue_pair(predecessor=refresh_token)

    def grant_exchange(self, subject_token: str) -> dict[str, Any]:
        """Migrate the static token to an expiring pair (the same pair for 7 days)."""
        with self.lock:
            self._require_installed()
            now = self.clock()
            remembered = self._exchanges.get(subject_token)
            if remembered is not None and now - remembered[0] < EXCHANGE_MEMORY:
                return self._replay(remembered[1])
            if subject_token != self.token or subject_token in self._retired:
                raise invalid_grant("The subject token is invalid.")
            answer = self._issue_pair()
            self._retired.add(subject_token)
            expiry = self._access[answer["access_token"]].expires_at
            refresh_expiry = self._refresh[answer["refresh_token"]].expires_at
            stored = dict(answer, _expires_at=expiry, _refresh_expires_at=refresh_expiry)
            self._exchanges[subject_token] = (now, stored)
            return answer

    def _replay(self, stored: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        answer = {k: v for k, v in stored.items() if not k.startswith("_")}
        answer["expires_in"] = max(0, int(stored["_expires_at"] - now))
        answer["refresh_token_expires_in"] = max(0, int(stored["_refresh_expires_at"] - now))
        return answer

    def grant_code(self, code: str, expiring: bool) -> dict[str, Any]:
        """Exchange an authorization code: an expiring pair, or else a new static token."""
        with self.lock:
            entry = self._codes.get(code)
            if entry is None or entry.used or self.clock() >= entry.expires_at:
                raise invalid_grant("The authorization code is invalid, expired or used.")
            entry.used = True
            if entry.scopes:
                self._scopes = list(entry.scopes)
            self.installed = True
            if expiring:
                return self._issue_pair()
            self.token = f"shpat_{secrets.token_hex(16)}"
            return {"access_token": self.token, "scope": self.scope_string()}
