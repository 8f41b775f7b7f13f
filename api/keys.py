"""API keys for the write endpoints: create (shown once), verify, revoke, list.

A key is `fm_` + 32 random bytes in base64url (256 bits). Only its SHA-256 is stored: with that much
entropy a fast hash is enough (no password-style stretching needed), and a verify is one indexed
lookup. The first 12 characters are kept in clear as `prefix` so people can tell keys apart and revoke
one without having it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.models import ApiKey

KEY_PREFIX = "fm_"
PREFIX_LENGTH = 12
# last_used_at is a hint for people, not an audit log: write it at most once a minute per key
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked)


def create_api_key(session: Session, name: str) -> tuple[KeyInfo, str]:
    """Store a new key named `name`; returns its record and the key itself (print it once)."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name[:200], prefix=token[:PREFIX_LENGTH], key_hash=hash_key(token))
    session.add(row)
    session.flush()
    session.refresh(row)
    return _info(row), token


def verify_api_key(session: Session, token: str | None) -> KeyInfo | None:
    """The key's record when `token` is a known, unrevoked key; None otherwise."""
    if not token or not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = hash_key(token)
    row = session.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
    if row is None or row.revoked or not hmac.compare_digest(row.key_hash, digest):
        return None
    now = datetime.now(timezone.utc)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        row.last_used_at = now
    return _info(row)


def sign_download(session: Session, key_id: int, export_id: int, name: str, expires: int) -> str | None:
    """A signature letting anyone holding the link fetch export file `name` until `expires` (Unix
    seconds), on behalf of key `key_id`. Keyed with that key's stored hash: revoking the key voids
    its links, and no server secret needs configuring or sharing between API processes."""
    key_hash = session.scalar(select(ApiKey.key_hash).where(ApiKey.id == key_id, ApiKey.revoked.is_(False)))
    return None if key_hash is None else _download_mac(key_hash, export_id, name, expires)


def verify_download(session: Session, key_id: int, export_id: int, name: str, expires: int, signature: str,
                    now: float) -> bool:
    if expires < now or len(signature) > 128:
        return False
    expected = sign_download(session, key_id, export_id, name, expires)
    return expected is not None and hmac.compare_digest(expected, signature)


def _download_mac(key_hash: str, export_id: int, name: str, expires: int) -> str:
    message = f"download\n{export_id}\n{name}\n{expires}".encode("utf-8")
    return hmac.new(bytes.fromhex(key_hash), message, hashlib.sha256).hexdigest()


def revoke_api_key(session: Session, which: str) -> list[KeyInfo]:
    """Revoke the keys whose prefix, name or id is `which` (or the key itself); returns them."""
    which = which.strip()
    if not which:
        return []
    conds = [ApiKey.prefix == which[:PREFIX_LENGTH] if which.startswith(KEY_PREFIX) else ApiKey.name == which]
    if which.startswith(KEY_PREFIX) and len(which) > PREFIX_LENGTH:
        conds = [ApiKey.key_hash == hash_key(which)]
    if which.isdigit() and len(which) < 10:
        conds.append(ApiKey.id == int(which))
    rows = session.execute(select(ApiKey).where(or_(*conds), ApiKey.revoked.is_(False))).scalars().all()
    for row in rows:
        row.revoked = True
    session.flush()
    return [_info(r) for r in rows]


def list_api_keys(session: Session) -> list[KeyInfo]:
    return [_info(r) for r in session.execute(select(ApiKey).order_by(ApiKey.id)).scalars()]


# -- for the command line (`figmine apikey create|revoke|list`): each opens its own transaction -------
def create_key(name: str) -> tuple[KeyInfo, str]:
    from store.db import session_scope

    with session_scope() as session:
        return create_api_key(session, name)


def revoke_key(which: str) -> list[KeyInfo]:
    from store.db import session_scope

    with session_scope() as session:
        return revoke_api_key(session, which)


def list_keys() -> list[KeyInfo]:
    from store.db import session_scope

    with session_scope() as session:
        return list_api_keys(session)
