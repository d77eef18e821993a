"""The OAuth 2.0 bookkeeping the ledger sandboxes share: apps, single-use codes with PKCE,
grants, rotating refresh tokens with a grace for retries, revocation and expiry.

Each service's identity module (xero/identity.py, quickbooks/identity.py) subclasses
`OAuthGrants` with its own records and rules: what a code carries (Xero's tenants, Intuit's
realm), what a token response holds, how long tokens live, how a client that fails to
authenticate is answered (Xero 400, Intuit 401) and what a stale refresh token is told.
Times come from the sandbox clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from duely.sandbox.clock import SandboxClock


class OAuthError(Exception):
    """An OAuth error answered as `{"error": ...}` (HTTP 400 unless said otherwise)."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(description or error)
        self.error = error
        self.description = description
        self.status = status


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


AnswerT = TypeVar("AnswerT")


class ClientApp(Protocol):
    client_id: str
    client_secret: str


class IssuedCode(Protocol):
    client_id: str
    redirect_uri: str
    expires: datetime
    code_challenge: str
    code_challenge_method: str
    used: bool


class GrantRecord(Protocol):
    grant_id: str
    client_id: str
    revoked: bool


class ExpiringToken(Protocol):
    grant_id: str
    expires: datetime


class RotatingToken(Protocol[AnswerT]):
    """A refresh token record: once used, it keeps the answer that replaced it."""

    grant_id: str
    replaced_at: datetime | None
    successor: AnswerT | None


AppT = TypeVar("AppT", bound=ClientApp)
CodeT = TypeVar("CodeT", bound=IssuedCode)
GrantT = TypeVar("GrantT", bound=GrantRecord)
RefreshT = TypeVar("RefreshT", bound="RotatingToken[Any]")


_CodeT_co = TypeVar("_CodeT_co", bound=IssuedCode, covariant=True)
_GrantT_co = TypeVar("_GrantT_co", bound=GrantRecord, covariant=True)
_RefreshT_co = TypeVar("_RefreshT_co", bound="RotatingToken[Any]", covariant=True)


class GrantsState(Protocol[AppT, _CodeT_co, _GrantT_co, _RefreshT_co]):
    """The part of a service's IdentityState this module reads (and `apps`, writes)."""

    @property
    def apps(self) -> MutableMapping[str, AppT]: ...
    @property
    def codes(self) -> Mapping[str, _CodeT_co]: ...
    @property
    def grants(self) -> Mapping[str, _GrantT_co]: ...
    @property
    def access_tokens(self) -> Mapping[str, ExpiringToken]: ...
    @property
    def refresh_tokens(self) -> Mapping[str, _RefreshT_co]: ...


class OAuthGrants(Generic[AppT, CodeT, GrantT, RefreshT, AnswerT]):
    """A service's identity: subclasses store codes and grants and issue tokens (`_issue`);
    a refresh token record keeps the answer it was replaced by in `successor`."""

    REFRESH_GRACE = timedelta(minutes=30)
    INVALID_CLIENT_STATUS = 400
    MISSING_VERIFIER = "code_verifier is required"

    def __init__(self, clock: SandboxClock, state: GrantsState[AppT, CodeT, GrantT, RefreshT]):
        self.clock = clock
        self.state = state

    # --- apps ----------------------------------------------------------------------------

    def register_app(self, app: AppT) -> AppT:
        self.state.apps[app.client_id] = app
        return app

    def app(self, client_id: str) -> AppT | None:
        return self.state.apps.get(client_id)

    def invalid_client(self) -> OAuthError:
        return OAuthError("invalid_client", status=self.INVALID_CLIENT_STATUS)

    def check_client(self, client_id: str, client_secret: str | None) -> AppT:
        app = self.app(client_id)
        if app is None or not hmac.compare_digest(app.client_secret, client_secret or ""):
            raise self.invalid_client()
        return app

    # --- codes and tokens ----------------------------------------------------------------

    def _redeem_code(
        self, app: AppT, code: str, redirect_uri: str, code_verifier: str | None
    ) -> CodeT:
        """The code, now used up; invalid_grant if it is unknown, another app's, used,
        expired, for another redirect URI, or its PKCE verifier does not match."""
        found = self.state.codes.get(code)
        if found is None or found.client_id != app.client_id or found.used:
            raise OAuthError("invalid_grant")
        found.used = True
        if self.clock.now() > found.expires or found.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant")
        if found.code_challenge:
            if not code_verifier:
                raise OAuthError("invalid_grant", self.MISSING_VERIFIER)
            expected = (
                pkce_challenge(code_verifier)
                if found.code_challenge_method == "S256"
                else code_verifier
            )
            if not hmac.compare_digest(expected, found.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match")
        return found

    def exchange_code(
        self, app: AppT, code: str, redirect_uri: str, code_verifier: str | None
    ) -> AnswerT:
        """The token endpoint's authorization_code grant: a new grant and its tokens."""
        raise NotImplementedError

    def _issue(self, grant: GrantT) -> AnswerT:
        """New tokens for the grant, stored, as the token endpoint answers them."""
        raise NotImplementedError

    def _check_refresh_token(self, record: RefreshT, now: datetime) -> None:
        """Raise OAuthError when the service's rules have retired this refresh token."""

    def refresh(self, app: AppT, refresh_token: str) -> AnswerT:
        """Rotate: a new pair for the grant. The replaced token may be retried within
        REFRESH_GRACE and gets the same new pair (a client that lost the answer must not be
        locked out); after that it is invalid_grant."""
        now = self.clock.now()
        record = self.state.refresh_tokens.get(refresh_token)
        grant = self.state.grants.get(record.grant_id) if record else None
        if record is None or grant is None or grant.revoked or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant")
        self._check_refresh_token(record, now)
        if record.successor is not None:
            assert record.replaced_at is not None
            if now - record.replaced_at <= self.REFRESH_GRACE:
                answer: AnswerT = record.successor
                return answer
            raise OAuthError("invalid_grant")
        answer = self._issue(grant)
        record.successor = answer
        record.replaced_at = now
        return answer

    # --- revocation ----------------------------------------------------------------------

    def _revocable(self, token: str) -> RefreshT | ExpiringToken | None:
        """The token record the revocation endpoint accepts: a refresh token (RFC 7009)."""
        return self.state.refresh_tokens.get(token)

    def revoke(self, app: AppT, token: str) -> None:
        """The revocation endpoint: the app's grant ends. An unknown token is not an error
        (RFC 7009)."""
        record = self._revocable(token)
        if record is None:
            return
        grant = self.state.grants.get(record.grant_id)
        if grant is not None and grant.client_id == app.client_id:
            self.revoke_grant(grant.grant_id)

    def revoke_grant(self, grant_id: str) -> None:
        self.state.grants[grant_id].revoked = True

    def expire_access_tokens(self, grant_id: str) -> int:
        """Make a grant's access tokens expired now (admin); returns how many there were."""
        expired = 0
        past = self.clock.now() - timedelta(seconds=1)
        for token in self.state.access_tokens.values():
            if token.grant_id == grant_id and token.expires > past:
                token.expires = past
                expired += 1
        return expired
