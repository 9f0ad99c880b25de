"""Pairing: an unknown sender gets a short-lived code; the owner approves it from the terminal."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from assistant.approvals import audit_in
from assistant.messages import Principal
from assistant.store import Store

log = logging.getLogger("foreman.gateway.pairing")

# no 0/O, 1/I/L: the code is read off a phone and typed into a terminal
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class PairingError(ValueError):
    """A code that is unknown, expired or already used."""


@dataclass(frozen=True)
class PairingCode:
    code: str
    platform: str
    user_id: str
    display_name: str | None
    state: str
    created_at: datetime
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Pairing:
    """Codes and paired users in the state store (tables pairing_codes, paired_users)."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: timedelta = timedelta(hours=1),
        max_pending: int = 5,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.max_pending = max_pending
        self.clock = clock

    def is_paired(self, platform: str, user_id: str) -> bool:
        row = self.store.connection.execute(
            "SELECT 1 FROM paired_users WHERE platform = ? AND user_id = ?", (platform, user_id)
        ).fetchone()
        return row is not None

    def paired(self) -> list[tuple[str, str]]:
        """Every paired (platform, user_id)."""
        rows = self.store.connection.execute(
            "SELECT platform, user_id FROM paired_users ORDER BY platform, user_id"
        ).fetchall()
        return [(row["platform"], row["user_id"]) for row in rows]

    def request(self, sender: Principal) -> PairingCode | None:
        """The sender's pending code (a new one if needed), or None when too many are pending."""
        now = self.clock()
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE pairing_codes SET state = 'expired' WHERE state = 'pending' "
                "AND expires_at <= ?",
                (now.isoformat(),),
            )
            existing = conn.execute(
                "SELECT * FROM pairing_codes WHERE state = 'pending' AND platform = ? "
                "AND user_id = ?",
                (sender.platform, sender.user_id),
            ).fetchone()
            if existing is not None:
                return _code_from_row(existing)
            (pending,) = conn.execute(
                "SELECT COUNT(*) FROM pairing_codes WHERE state = 'pending'"
            ).fetchone()
            if pending >= self.max_pending:
                log.warning("pairing: %s not given a code, %d already pending", sender.key, pending)
                audit_in(
                    conn, actor=sender.key, action="pairing_refused", details={"pending": pending}
                )
                return None
            code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
            expires = now + self.ttl
            conn.execute(
                "INSERT INTO pairing_codes (code, platform, user_id, display_name, state, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (
                    code,
                    sender.platform,
                    sender.user_id,
                    sender.display_name,
                    now.isoformat(),
                    expires.isoformat(),
                ),
            )
            audit_in(
                conn,
                actor=sender.key,
                action="pairing_code_issued",
                details={"expires_at": expires.isoformat()},
            )
        log.info("pairing: code issued to %s, expires %s", sender.key, expires.isoformat())
        return PairingCode(
            code, sender.platform, sender.user_id, sender.display_name, "pending", now, expires
        )

    def pending(self) -> list[PairingCode]:
        now = self.clock().isoformat()
        rows = self.store.connection.execute(
            "SELECT * FROM pairing_codes WHERE state = 'pending' AND expires_at > ? "
            "ORDER BY created_at",
            (now,),
        ).fetchall()
        return [_code_from_row(row) for row in rows]

    def approve(self, code: str, *, approved_by: str = "terminal") -> PairingCode:
        """Pair the code's sender for good; refuse unknown, expired or used codes."""
        code = code.strip().upper()
        now = self.clock()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM pairing_codes WHERE code = ?", (code,)).fetchone()
            if row is None:
                raise PairingError(f"no pairing code {code!r} (see `foreman pairing list`)")
            found = _code_from_row(row)
            if found.state != "pending":
                raise PairingError(f"pairing code {code} was already {found.state}")
            if found.expires_at <= now:
                conn.execute("UPDATE pairing_codes SET state = 'expired' WHERE code = ?", (code,))
                raise PairingError(
                    f"pairing code {code} expired at {found.expires_at:%Y-%m-%d %H:%M} UTC; "
                    "ask the sender to write again for a new one"
                )
            conn.execute("UPDATE pairing_codes SET state = 'approved' WHERE code = ?", (code,))
            conn.execute(
                "INSERT OR REPLACE INTO paired_users (platform, user_id, approved_at) "
                "VALUES (?, ?, ?)",
                (found.platform, found.user_id, now.isoformat()),
            )
            sender = Principal(found.platform, found.user_id, found.display_name)  # type: ignore[arg-type]
            audit_in(
                conn,
                actor=sender.key,
                action="pairing_approved",
                details={"by": approved_by, "code": code},
            )
        log.info("pairing: %s:%s approved by %s", found.platform, found.user_id, approved_by)
        return PairingCode(
            found.code,
            found.platform,
            found.user_id,
            found.display_name,
            "approved",
            found.created_at,
            found.expires_at,
        )


def _code_from_row(row: sqlite3.Row) -> PairingCode:
    return PairingCode(
        code=row["code"],
        platform=row["platform"],
        user_id=row["user_id"],
        display_name=row["display_name"],
        state=row["state"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
    )
