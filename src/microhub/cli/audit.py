"""``verify``, ``verify-receipt`` and ``export``: what an auditor runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from microhub.cli.common import EXIT_CHECK_FAILED, Out, hub_command, open_from
from microhub.crypto.signing import key_id_for
from microhub.domain.money import currency, format_minor
from microhub.domain.verify import PublicKey
from microhub.errors import ValidationError
from microhub.exports.dsfinvk import export_dsfinvk
from microhub.exports.jsonl import export_jsonl
from microhub.services import audit
from microhub.services.keys import rotate_signing_key
from microhub.store import journal as journal_store


def _amount(minor: int, code: str) -> str:
    try:
        return f"{format_minor(minor, currency(code))} {code}"
    except ValidationError:
        return f"{minor} minor units of {code}"


@click.command()
@hub_command
def verify(data: Path, as_json: bool) -> None:
    """Check every series of the journal; exit 0 if intact, 1 with one finding per problem.

    Finds records that were modified, deleted, inserted, reordered or duplicated, gaps in the
    numbering, bad signatures, running totals that do not add up, training records counted in
    the totals, and records left unsigned without a recovery record.
    """
    hub = open_from(data)
    try:
        report = audit.verify_journal(hub)
    finally:
        hub.close()

    def human(console: Console) -> None:
        for s in report.series:
            mark = "[green]ok[/]" if not s.findings else f"[red]{len(s.findings)} problem(s)[/]"
            console.print(f"{s.series}: {s.records} records, head {s.head_seq}: {mark}")
        for f in report.findings:
            console.print(f"  {f.series}-{f.seq} [bold]{f.kind}[/]: {f.detail}", highlight=False)

    Out(as_json).emit(report.to_json(), human)
    if not report.ok:
        sys.exit(EXIT_CHECK_FAILED)


@click.command("verify-receipt")
@click.argument("payload")
@click.option(
    "--key",
    "key_hex",
    metavar="HEX",
    help="The register's Ed25519 public key (hex) instead of the hub's key list.",
)
@hub_command
def verify_receipt(data: Path, as_json: bool, payload: str, key_hex: str | None) -> None:
    """Check a receipt's QR PAYLOAD offline against the hub's public keys.

    Exit 0 when the receipt is genuine, 1 when it was altered or not issued by this hub.
    """
    if key_hex:
        try:
            raw = bytes.fromhex(key_hex)
        except ValueError:
            raise click.BadParameter("must be hex", param_hint="--key") from None
        keys = {key_id_for(raw): PublicKey(key_id_for(raw), "ed25519", raw)}
    else:
        hub = open_from(data)
        try:
            keys = journal_store.keys_for(hub.db.connection)
        finally:
            hub.close()
    out = Out(as_json)
    try:
        receipt = audit.verify_receipt(payload, keys)
    except ValidationError as error:
        if error.code != "bad_receipt_signature":
            raise
        message = error.message
        out.emit(
            {"ok": False, "error": error.to_dict()},
            lambda c: c.print(f"[red]NOT GENUINE[/]: {message}"),
        )
        sys.exit(EXIT_CHECK_FAILED)
    result = {
        "ok": True,
        "receipt": receipt.number,
        "type": receipt.type,
        "time": receipt.time,
        "currency": receipt.currency,
        "gross": receipt.gross,
        "taxes": [{"rate_bp": r, "gross": g} for r, g in receipt.taxes],
        "key_id": receipt.key_id,
        "hash": receipt.hash,
    }
    out.emit(
        result,
        lambda c: c.print(
            f"[green]genuine[/]: {receipt.number} ({receipt.type}) at {receipt.time}, "
            f"total {_amount(receipt.gross, receipt.currency)}, signed by key {receipt.key_id}"
        ),
    )


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "dsfinvk"]),
    required=True,
    help="jsonl: journal.jsonl + keys.json; dsfinvk: a DSFinV-K-shaped CSV bundle.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write into (created if missing; must be empty).",
)
@hub_command
def export(data: Path, as_json: bool, fmt: str, out_dir: Path) -> None:
    """Export the journal for an auditor, with the public keys needed to verify it."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValidationError(
            f"{out_dir} is not empty; choose an empty or new folder",
            field="out",
            value=str(out_dir),
            code="out_not_empty",
        )
    hub = open_from(data)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with hub.db.read() as conn:
            if fmt == "jsonl":
                result = {"format": "jsonl", "records": export_jsonl(conn, out_dir)}
            else:
                result = {
                    "format": "dsfinvk",
                    "rows": export_dsfinvk(conn, out_dir, currency_code=hub.settings.currency),
                }
    finally:
        hub.close()
    result["out"] = str(out_dir)
    files = sorted(p.name for p in out_dir.iterdir())
    result["files"] = files
    Out(as_json).emit(result, lambda c: c.print(f"wrote {', '.join(files)} to {out_dir}"))


@click.command("rotate-signing")
@hub_command
def rotate_signing(data: Path, as_json: bool) -> None:
    """Give the hub's register a new signing key, recorded as a signed key-change record.

    The old key signs the change, so the chain proves the new key. Earlier receipts stay valid
    under the old key; `verify-receipt` knows both.
    """
    hub = open_from(data)
    try:
        recorded, key = rotate_signing_key(hub)
    finally:
        hub.close()
    result = {
        "receipt": recorded.number,
        "key_id": key.key_id,
        "alg": key.alg,
        "public_key": key.raw.hex(),
    }
    Out(as_json).emit(
        result, lambda c: c.print(f"new signing key {key.key_id} recorded as {recorded.number}")
    )
