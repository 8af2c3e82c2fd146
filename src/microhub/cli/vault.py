"""The vault's commands: ``key rotate``, ``consent``, ``forget``, ``backup``, ``restore`` and
``retention run``.

The hub key's passphrase (when it has one) comes from ``MICROHUB_VAULT_PASSPHRASE`` or a prompt;
a new one from ``MICROHUB_VAULT_NEW_PASSPHRASE`` or a prompt. Neither is ever printed. Personal
data given on the command line is never echoed back, not even in ``--json`` output or errors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from microhub.cli.common import EXIT_CHECK_FAILED, Out, hub_command, open_from
from microhub.services import audit
from microhub.services import backup as backup_service
from microhub.services import consent as consent_service
from microhub.services import retention as retention_service
from microhub.services import vault as vault_service
from microhub.services.context import Hub
from microhub.vault.consent import PURPOSES
from microhub.vault.keys import read_key_file_info

__all__ = ["backup", "consent", "forget", "key", "restore", "retention"]

PASSPHRASE_ENV = "MICROHUB_VAULT_PASSPHRASE"  # noqa: S105 - a variable name
NEW_PASSPHRASE_ENV = "MICROHUB_VAULT_NEW_PASSPHRASE"  # noqa: S105 - a variable name


def _passphrase(hub: Hub) -> str | None:
    """The hub key's passphrase if it needs one: the environment, else a hidden prompt."""
    try:
        wrap = read_key_file_info(hub.settings.key_dir)["wrap"]
    except Exception:
        return None  # missing key file: the service raises the clear error
    if wrap != "argon2id":
        return None
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    if sys.stdin.isatty():
        return str(click.prompt("Hub key passphrase", hide_input=True))
    return None


def _new_passphrase() -> str:
    if NEW_PASSPHRASE_ENV in os.environ:
        return os.environ[NEW_PASSPHRASE_ENV]
    return str(click.prompt("New hub key passphrase", hide_input=True, confirmation_prompt=True))


@click.group()
def key() -> None:
    """The hub key that protects personal data (see docs/vault.md)."""


@key.command("rotate")
@click.option(
    "--protect",
    type=click.Choice(["keep", "file", "passphrase"]),
    default="keep",
    show_default=True,
    help="How to store the new key: in the owner-only key file, or wrapped by a passphrase "
    f"(Argon2id; read from {NEW_PASSPHRASE_ENV} or prompted).",
)
@hub_command
def key_rotate(data: Path, as_json: bool, protect: str) -> None:
    """Replace the hub key and re-wrap every person's key under it.

    Personal data is not re-encrypted: only the small per-person keys are re-wrapped. The key
    itself is never printed; only its id.
    """
    hub = open_from(data)
    try:
        passphrase = _passphrase(hub)
        current = read_key_file_info(hub.settings.key_dir)["wrap"]
        if protect == "passphrase" or (protect == "keep" and current == "argon2id"):
            new = passphrase if protect == "keep" and passphrase is not None else _new_passphrase()
        else:
            new = None
        result = vault_service.rotate_key(hub, passphrase=passphrase, new_passphrase=new)
    finally:
        hub.close()
    Out(as_json).emit(
        result,
        lambda c: c.print(
            f"hub key rotated: {result['old_key_id']} -> {result['key_id']} "
            f"({result['wrap']}); {result['rewrapped']} person key(s) re-wrapped"
        ),
    )


@click.group()
def consent() -> None:
    """Signed consent: record, verify and withdraw (JWS, Ed25519, Kantara receipt fields)."""


@consent.command("record")
@click.option("--email", required=True, help="The person's email (stored encrypted only).")
@click.option(
    "--purpose", required=True, type=click.Choice(sorted(PURPOSES)), help="What it is for."
)
@click.option(
    "--notice-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The notice text the person saw (its SHA-256 goes in the token) [default: built-in].",
)
@click.option("--policy-url", default="", help="The privacy policy's URL.")
@click.option("--jurisdiction", default="EU", show_default=True, help="Kantara jurisdiction.")
@click.option(
    "--method",
    "collection_method",
    default="point of sale, in person",
    show_default=True,
    help="Kantara collectionMethod.",
)
@click.option("--name", default=None, help="The person's name (stored encrypted).")
@click.option("--phone", default=None, help="The person's phone (stored encrypted).")
@hub_command
def consent_record(
    data: Path,
    as_json: bool,
    email: str,
    purpose: str,
    notice_file: Path | None,
    policy_url: str,
    jurisdiction: str,
    collection_method: str,
    name: str | None,
    phone: str | None,
) -> None:
    """Record a person's consent for PURPOSE and print the signed token."""
    hub = open_from(data)
    try:
        result = consent_service.record_consent(
            hub,
            email=email,
            purpose=purpose,
            notice_text=notice_file.read_text(encoding="utf-8") if notice_file else None,
            policy_url=policy_url,
            jurisdiction=jurisdiction,
            collection_method=collection_method,
            name=name,
            phone=phone,
            passphrase=_passphrase(hub),
        )
    finally:
        hub.close()
    Out(as_json).emit(result, lambda c: c.print(result["token"], soft_wrap=True))


@consent.command("verify")
@click.argument("token")
@hub_command
def consent_verify(data: Path, as_json: bool, token: str) -> None:
    """Check a consent TOKEN's signature against this hub's keys.

    Exit 0 when it is genuine and (for a grant) still in force; 1 when it was withdrawn or
    superseded; 2 when it is tampered or not from this hub.
    """
    hub = open_from(data)
    try:
        result = consent_service.verify_consent(hub, token=token)
    finally:
        hub.close()

    def human(c: Console) -> None:
        state = "in force" if result["in_force"] else "not in force"
        c.print(
            f"genuine {result['event']} {result['consentReceiptID']} for "
            f"{', '.join(result['purposes'])}: {state}"
        )

    Out(as_json).emit(result, human)
    if result["event"] == "consent.granted" and not result["in_force"]:
        sys.exit(EXIT_CHECK_FAILED)


@consent.command("withdraw")
@click.option("--email", required=True, help="The person's email.")
@click.option("--purpose", required=True, type=click.Choice(sorted(PURPOSES)), help="Which one.")
@hub_command
def consent_withdraw(data: Path, as_json: bool, email: str, purpose: str) -> None:
    """Record a signed withdrawal of the person's consent for PURPOSE (it wins ties)."""
    hub = open_from(data)
    try:
        result = consent_service.withdraw_consent(
            hub, email=email, purpose=purpose, passphrase=_passphrase(hub)
        )
    finally:
        hub.close()
    Out(as_json).emit(result, lambda c: c.print(result["token"], soft_wrap=True))


@click.command()
@click.option("--email", required=True, help="The person to erase.")
@hub_command
def forget(data: Path, as_json: bool, email: str) -> None:
    """Erase a person for good: their key is destroyed and the hub key replaced.

    Their name, email and phone can no longer be decrypted anywhere — on this hub or in any
    earlier backup. Receipts and totals stay intact and verifiable.
    """
    hub = open_from(data)
    try:
        result = vault_service.forget(hub, email=email, passphrase=_passphrase(hub))
    finally:
        hub.close()
    Out(as_json).emit(result, lambda c: c.print(f"erased {result['erased']}"))


@click.command()
@click.option(
    "--to",
    "to",
    required=True,
    metavar="DIR|s3://BUCKET/PREFIX",
    help="Where to write the backup; add ?ttl=48h to prune older ones there.",
)
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    metavar="AGE_PUBLIC_KEY",
    help="Also encrypt to this age recipient (e.g. an offline recovery key). Repeatable.",
)
@hub_command
def backup(data: Path, as_json: bool, to: str, recipients: tuple[str, ...]) -> None:
    """Write an encrypted backup (age format) of the hub while it keeps selling.

    The file holds a consistent database snapshot, the signing keys, the creator assets and a
    manifest of SHA-256 hashes. Decrypt it with microhub restore, or with the age tool.
    """
    hub = open_from(data)
    try:
        result = backup_service.backup(hub, to=to, recipients=list(recipients), low_priority=True)
    finally:
        hub.close()
    Out(as_json).emit(
        result,
        lambda c: c.print(
            f"backup {result['name']} ({result['size']} bytes, {result['members']} files) "
            f"written to {result['target']}; pruned {len(result['pruned'])}"
        ),
    )


@click.command()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="FILE|s3://BUCKET/PREFIX/NAME",
    help="The backup file.",
)
@click.option(
    "--identity",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="MICROHUB_AGE_IDENTITY",
    show_envvar=True,
    required=True,
    help="An age identity file that can decrypt it (the hub's keys/backup-identity.txt, or "
    "an age-keygen recovery key).",
)
@click.option(
    "--hub-key",
    "hub_key_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The old hub's keys/hub.key, so personal fields stay readable.",
)
@hub_command
def restore(
    data: Path, as_json: bool, source: str, identity: Path, hub_key_file: Path | None
) -> None:
    """Restore a backup into a new data folder (--data), then verify its journal.

    The manifest is checked before anything is moved into place; an existing hub is never
    touched. Exit 1 if the restored journal does not verify.
    """
    result: dict[str, Any] = backup_service.restore(
        source=source, data_dir=data, identity=identity, hub_key_file=hub_key_file
    )
    hub = open_from(data)
    try:
        report = audit.verify_journal(hub)
    finally:
        hub.close()
    result["verified"] = report.ok
    result["findings"] = len(report.findings)
    Out(as_json).emit(
        result,
        lambda c: c.print(
            f"restored {result['members']} files into {result['data_dir']}; journal "
            + ("verified" if report.ok else f"has {len(report.findings)} problem(s)")
        ),
    )
    if not report.ok:
        sys.exit(EXIT_CHECK_FAILED)


@click.group()
def retention() -> None:
    """The retention policy for personal data, media cache and backups."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@hub_command
def retention_run(data: Path, as_json: bool, dry_run: bool) -> None:
    """Purge personal fields, cached media and expired backups past their retention."""
    hub = open_from(data)
    try:
        result = retention_service.run_retention_policy(
            hub, dry_run=dry_run, passphrase=_passphrase(hub)
        )
    finally:
        hub.close()

    def human(c: Console) -> None:
        verb = "due" if dry_run else "purged"
        people = result["personal"].get("due" if dry_run else "purged", [])
        media = result["media"].get("due" if dry_run else "deleted", [])
        c.print(f"personal records {verb}: {len(people)}")
        c.print(f"cached media files {verb}: {len(media)}")
        for b in result["backups"]:
            c.print(f"backups at {b['target']}: {b.get('error') or len(b['pruned'])}")
        c.print(f"receipts kept: {result['receipts']['kept']}")

    Out(as_json).emit(result, human)
