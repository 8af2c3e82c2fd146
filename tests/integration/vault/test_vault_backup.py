"""Encrypted backups to a folder and restores from them: round trip, consistency while
selling, bad files refused without touching anything, TTL pruning and the scheduler."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import tarfile
import threading
from pathlib import Path
from typing import Any

import pyrage
import pytest

from microhub.bootstrap import open_hub
from microhub.errors import ValidationError
from microhub.services import audit, sales
from microhub.services import backup as backup_service
from microhub.services.context import Hub


def _assets(hub_dir: Path) -> dict[str, bytes]:
    files = {
        "assets/drop-1/photo.jpg": bytes(range(256)) * 400,
        "assets/drop-1/clip.mp4": b"\x00\x01" * 50_000,
        "assets/readme.txt": b"creator notes",
    }
    for name, content in files.items():
        (hub_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (hub_dir / name).write_bytes(content)
    return files


def _sell(hub: Hub, n: int = 1) -> None:
    for _ in range(n):
        sales.sell(
            hub, items=[sales.ItemRequest("COFFEE", 1)], payments=[sales.PaymentRequest("cash")]
        )


def _backup(cli: Any, hub_dir: Path, to: Path, *extra: str) -> Path:
    result = cli("backup", "--data", str(hub_dir), "--to", str(to), "--json", *extra)
    assert result.exit_code == 0, result.stdout + result.stderr
    return to / result.json()["name"]


def test_round_trip_restores_a_hub_that_verifies(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """A folder backup restores (with the hub's identity) to a hub whose journal verifies and
    whose assets and catalog are byte-identical."""
    files = _assets(hub_dir)
    hub = open_hub(hub_dir)
    _sell(hub, 3)
    hub.close()
    archive = _backup(cli, hub_dir, tmp_path / "bk")
    assert archive.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert archive.stat().st_mode & 0o777 == 0o600
    new = tmp_path / "restored"
    result = cli("restore", "--data", str(new), "--from", str(archive), "--identity",
                 str(hub_dir / "keys" / "backup-identity.txt"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    body = result.json()
    assert body["verified"] is True and body["findings"] == 0
    for name, content in files.items():
        assert (new / name).read_bytes() == content
    assert not (new / "keys" / "hub.key").exists()
    assert (new / "keys" / "backup-identity.txt").exists()
    assert cli("verify", "--data", str(new)).exit_code == 0
    restored = open_hub(new)
    try:
        count = restored.db.connection.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        assert count == 4
        _sell(restored)  # the restored hub keeps selling with its signing key
        assert audit.verify_journal(restored).ok
    finally:
        restored.close()


def test_backup_while_selling_is_a_consistent_snapshot(hub: Hub, tmp_path: Path) -> None:
    """Sales keep committing during a backup; the restored snapshot verifies."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def seller() -> None:
        try:
            while not stop.is_set():
                _sell(hub)
        except BaseException as exc:
            errors.append(exc)

    _sell(hub, 5)
    thread = threading.Thread(target=seller)
    thread.start()
    try:
        results = [backup_service.backup(hub, to=str(tmp_path / "bk")) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    assert errors == []
    identity = hub.settings.key_dir / "backup-identity.txt"
    for i, result in enumerate(results):
        new = tmp_path / f"r{i}"
        backup_service.restore(
            source=str(tmp_path / "bk" / result["name"]), data_dir=new, identity=identity
        )
        restored = open_hub(new)
        try:
            assert audit.verify_journal(restored).ok
        finally:
            restored.close()


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong_identity", "not_age"])
def test_a_bad_backup_is_refused_and_nothing_is_left(
    cli: Any, hub_dir: Path, tmp_path: Path, damage: str
) -> None:
    """A corrupted, truncated or foreign backup, or a wrong identity, exits 2 (bad_backup) and
    leaves neither the new folder nor a staging folder behind."""
    _assets(hub_dir)
    archive = _backup(cli, hub_dir, tmp_path / "bk")
    identity = hub_dir / "keys" / "backup-identity.txt"
    size = archive.stat().st_size
    if damage == "flip":
        _flip(archive, size // 2)
    elif damage == "truncate":
        archive.write_bytes(archive.read_bytes()[: size - 1000])
    elif damage == "wrong_identity":
        identity = tmp_path / "other.txt"
        identity.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    else:
        archive.write_bytes(b"PK\x03\x04 definitely a zip")
    new = tmp_path / "restored"
    result = cli("restore", "--data", str(new), "--from", str(archive), "--identity",
                 str(identity), "--json")  # fmt: skip
    assert result.exit_code == 2, result.stdout
    assert result.json()["error"]["code"] == "bad_backup"
    assert not new.exists()
    assert [p.name for p in tmp_path.iterdir() if "restoring" in p.name] == []


def _encrypt_tar(members: dict[str, bytes], recipient: str, out: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    out.write_bytes(pyrage.encrypt(buf.getvalue(), [pyrage.x25519.Recipient.from_str(recipient)]))


@pytest.mark.parametrize("problem", ["hash", "missing", "extra", "escape"])
def test_a_manifest_that_does_not_match_is_refused(tmp_path: Path, problem: str) -> None:
    """An archive whose members disagree with its manifest (or that escapes the folder) is
    refused before the new folder appears."""
    identity = pyrage.x25519.Identity.generate()
    id_file = tmp_path / "id.txt"
    id_file.write_text(str(identity) + "\n")
    members = {"hub/settings.toml": b"x = 1\n", "hub/hub.sqlite": b"sqlite"}
    listed = {n: hashlib.sha256(c).hexdigest() for n, c in members.items()}
    if problem == "hash":
        listed["hub/hub.sqlite"] = "0" * 64
    elif problem == "missing":
        listed["hub/assets/a.jpg"] = "0" * 64
    elif problem == "extra":
        members["hub/assets/b.jpg"] = b"extra"
    else:
        members["hub/../../evil"] = b"x"
        listed["hub/../../evil"] = hashlib.sha256(b"x").hexdigest()
    manifest = {
        "format": "microhub-backup",
        "version": 1,
        "hub_id": "x",
        "created": "now",
        "members": [{"name": n, "size": 0, "sha256": h} for n, h in listed.items()],
    }
    for m in manifest["members"]:  # type: ignore[union-attr]
        m["size"] = len(members.get(m["name"], b""))
    archive = tmp_path / "crafted.age"
    _encrypt_tar({**members, "manifest.json": json.dumps(manifest).encode()},
                 str(identity.to_public()), archive)  # fmt: skip
    with pytest.raises(ValidationError) as err:
        backup_service.restore(source=str(archive), data_dir=tmp_path / "new", identity=id_file)
    assert err.value.code == "bad_backup"
    assert not (tmp_path / "new").exists()
    assert not (tmp_path.parent / "evil").exists()


def test_restore_never_overwrites_an_existing_hub(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """Restoring into a folder that holds anything exits 2 (hub_exists) and changes nothing."""
    archive = _backup(cli, hub_dir, tmp_path / "bk")
    before = (hub_dir / "hub.sqlite").read_bytes()
    result = cli("restore", "--data", str(hub_dir), "--from", str(archive), "--identity",
                 str(hub_dir / "keys" / "backup-identity.txt"), "--json")  # fmt: skip
    assert result.exit_code == 2
    assert result.json()["error"]["code"] == "hub_exists"
    assert (hub_dir / "hub.sqlite").read_bytes() == before
    empty = tmp_path / "empty"
    empty.mkdir()
    ok = cli("restore", "--data", str(empty), "--from", str(archive), "--identity",
             str(hub_dir / "keys" / "backup-identity.txt"))  # fmt: skip
    assert ok.exit_code == 0


def test_bad_recipient_and_bad_target_are_refused(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """A malformed --recipient or an unknown target scheme exits 2 and writes nothing."""
    bad = cli("backup", "--data", str(hub_dir), "--to", str(tmp_path / "bk"), "--recipient",
              "age1notakey", "--json")  # fmt: skip
    assert bad.exit_code == 2 and bad.json()["error"]["code"] == "bad_recipient"
    scheme = cli("backup", "--data", str(hub_dir), "--to", "ftp://x/y", "--json")
    assert scheme.exit_code == 2 and scheme.json()["error"]["field"] == "to"
    ttl = cli("backup", "--data", str(hub_dir), "--to", f"{tmp_path / 'bk'}?ttl=soon", "--json")
    assert ttl.exit_code == 2 and ttl.json()["error"]["field"] == "ttl"
    assert not (tmp_path / "bk").exists()


def test_ttl_prunes_only_this_hubs_expired_backups(hub: Hub, tmp_path: Path) -> None:
    """With ?ttl=1h, this hub's older backups are deleted; another hub's are kept."""
    folder = tmp_path / "bk"
    folder.mkdir()
    mine_old = f"microhub-{hub.settings.hub_id}-20200101T000000000000Z.age"
    other_old = "microhub-00000000-0000-7000-8000-000000000000-20200101T000000000000Z.age"
    for name in (mine_old, other_old, "unrelated.txt"):
        (folder / name).write_bytes(b"x")
    result = backup_service.backup(hub, to=f"{folder}?ttl=1h")
    assert result["pruned"] == [mine_old]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [other_old, "unrelated.txt", result["name"]]
    )


def test_scheduler_backs_up_every_target_until_stopped(hub: Hub, tmp_path: Path) -> None:
    """run_backup_scheduler writes a backup to each configured target and returns on stop."""
    targets = (str(tmp_path / "a"), f"{tmp_path / 'b'}?ttl=2d")
    scheduled = dataclasses.replace(
        hub, settings=dataclasses.replace(hub.settings, backup_targets=targets)
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            backup_service.run_backup_scheduler(scheduled, stop=stop, interval=3600)
        )
        while not (list((tmp_path / "a").glob("*.age")) and list((tmp_path / "b").glob("*.age"))):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=60)

    asyncio.run(main())
    assert len(list((tmp_path / "a").glob("*.age"))) == 1


def test_restored_hub_without_hub_key_says_what_to_do(hub: Hub, tmp_path: Path) -> None:
    """A hub restored without --hub-key refuses personal-data operations with no_hub_key and
    reads them again once the old hub.key is copied in."""
    from microhub.errors import ConfigurationError
    from microhub.services import vault as vault_service

    vault_service.remember_person(hub, email="kim.restore@example.org", name="Kim")
    result = backup_service.backup(hub, to=str(tmp_path / "bk"))
    new = tmp_path / "restored"
    backup_service.restore(
        source=str(tmp_path / "bk" / result["name"]),
        data_dir=new,
        identity=hub.settings.key_dir / "backup-identity.txt",
    )
    restored = open_hub(new)
    try:
        with pytest.raises(ConfigurationError) as err:
            vault_service.lookup_person(restored, email="kim.restore@example.org")
        assert err.value.code == "no_hub_key"
        (new / "keys" / "hub.key").write_bytes((hub.settings.key_dir / "hub.key").read_bytes())
        person = vault_service.lookup_person(restored, email="kim.restore@example.org")
        assert person is not None and person.name == "Kim"
    finally:
        restored.close()


def test_stopping_the_scheduler_ends_a_running_backup(hub: Hub, tmp_path: Path) -> None:
    """Setting stop while a scheduled backup runs returns promptly and leaves no file under a
    backup name (only, possibly, a hidden partial file that the next backup removes)."""
    assets = hub.settings.data_dir / "assets"
    assets.mkdir()
    (assets / "big.bin").write_bytes(b"\x00" * (64 << 20))
    target = tmp_path / "bk"
    scheduled = dataclasses.replace(
        hub, settings=dataclasses.replace(hub.settings, backup_targets=(str(target),))
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            backup_service.run_backup_scheduler(scheduled, stop=stop, interval=3600)
        )
        await asyncio.sleep(0)  # let the child start; then stop at once
        stop.set()
        await asyncio.wait_for(task, timeout=60)

    asyncio.run(main())
    assert list(target.glob("*.age")) == []  # the child was stopped before it could finish
