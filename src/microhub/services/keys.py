"""Rotating a register's signing key, recorded in its own chain.

The ``key_change`` record names the new key (id, algorithm, public key) and is signed by the old
one, so an auditor who trusts the series' first key can follow every later key through the chain.
Rotation is refused when the old key cannot sign: an unsigned key change would let anyone
introduce a key.
"""

from __future__ import annotations

from dataclasses import replace

from microhub.crypto.signing import generate_key_file
from microhub.domain.journal import format_time
from microhub.domain.verify import PublicKey
from microhub.errors import SigningError
from microhub.services.context import Hub
from microhub.services.journaling import Recorded, append_record, recover
from microhub.settings import write_settings
from microhub.store import journal as journal_store

__all__ = ["rotate_signing_key"]


def rotate_signing_key(hub: Hub) -> tuple[Recorded, PublicKey]:
    """Create a new signing key for the hub's register and chain a signed ``key_change``."""
    series = hub.settings.series
    new = generate_key_file(hub.settings.key_dir)
    with hub.db.write() as conn:
        recover(hub, conn, series)
        journal_store.add_key(conn, new, series=series, created=format_time(hub.clock.now()))
        recorded = append_record(
            hub,
            conn,
            series=series,
            record_type="key_change",
            data={"key": new.key_id, "alg": new.alg, "public_key": new.raw.hex()},
        )
        if recorded.signature is None:
            raise SigningError(
                "the current signing key cannot sign, so the key change cannot be proven; "
                "restore the key file first",
                details={"key_id": hub.signer.key_id},
            )
    switch = getattr(hub.signer, "switch_to", None)
    if switch is not None:
        switch(new.key_id)
    write_settings(replace(hub.settings, signing_key=new.key_id))
    return recorded, new
