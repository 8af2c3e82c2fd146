"""Backups are standard age files: the Debian ``age`` tool decrypts them with an ``age-keygen``
recovery key, the manifest matches the files, and microhub restores from the same key."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("age-keygen") is None,
    reason="the age tool is not installed (scripts/test installs it)",
)


def test_age_decrypts_a_backup_and_microhub_restores_it(cli_proc: Any, tmp_path: Path) -> None:
    """`age -d -i recovery.txt` yields a tar whose manifest hashes match its members, and
    `microhub restore --identity recovery.txt` gives a hub that `microhub verify` accepts."""
    hub = tmp_path / "hub"
    assert cli_proc("init", "--data", str(hub)).exit_code == 0
    (hub / "assets" / "drop").mkdir(parents=True)
    (hub / "assets" / "drop" / "poster.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 64)
    sold = cli_proc("consent", "record", "--data", str(hub), "--email", "hal@example.org",
                    "--purpose", "email_receipt")  # fmt: skip
    assert sold.exit_code == 0
    identity = tmp_path / "recovery.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()

    made = cli_proc("backup", "--data", str(hub), "--to", str(tmp_path / "bk"),
                    "--recipient", recipient, "--json")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    archive = tmp_path / "bk" / json.loads(made.stdout)["name"]

    tar_path = tmp_path / "plain.tar"
    subprocess.run(
        ["age", "--decrypt", "-i", str(identity), "-o", str(tar_path), str(archive)], check=True
    )
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        assert names[-1] == "manifest.json"
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in manifest["members"]:
            content = tar.extractfile(member["name"]).read()  # type: ignore[union-attr]
            assert hashlib.sha256(content).hexdigest() == member["sha256"]
    assert "hub/assets/drop/poster.png" in names
    assert "hub/keys/hub.key" not in names
    assert b"hal@example.org" not in tar_path.read_bytes()

    restored = tmp_path / "restored"
    result = cli_proc("restore", "--data", str(restored), "--from", str(archive),
                      "--identity", str(identity), "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert cli_proc("verify", "--data", str(restored)).exit_code == 0
