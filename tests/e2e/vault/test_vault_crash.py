"""Crash safety with real SIGKILLs: a hub key replacement killed at either step, and a backup
killed while writing, never lose personal data or leave a file under a backup's name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from microhub.bootstrap import open_hub
from microhub.services import vault as vault_service

EMAIL = "ivy.crash@example.org"

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from microhub.bootstrap import open_hub
    from microhub.services import vault as vault_service
    from microhub.vault import keys, people

    where = sys.argv[2]
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "before_commit":
        people.rewrap_all = die          # hub.key.next written, database not yet changed
    else:
        keys.promote_next = die          # database committed, hub.key not yet replaced
    hub = open_hub(Path(sys.argv[1]))
    vault_service.forget(hub, email=sys.argv[3]) if sys.argv[3] else vault_service.rotate_key(hub)
    """
)


@pytest.mark.parametrize("where", ["before_commit", "after_commit"])
@pytest.mark.parametrize("action", ["rotate", "forget"])
def test_key_replacement_killed_midway_loses_nothing(
    hub_dir: Path, tmp_path: Path, where: str, action: str
) -> None:
    """After SIGKILL at either step of a key replacement the hub opens with the key its
    database names: people stay readable (or, for a committed forget, erased)."""
    keep = "jo.keep@example.org"
    hub = open_hub(hub_dir)
    try:
        vault_service.remember_person(hub, email=EMAIL, name="Ivy")
        vault_service.remember_person(hub, email=keep, name="Jo")
    finally:
        hub.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run(
        [sys.executable, str(script), str(hub_dir), where, EMAIL if action == "forget" else ""],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert (hub_dir / "keys" / "hub.key.next").exists()
    vault_service._UNLOCKED.clear()
    hub = open_hub(hub_dir)
    try:
        kept = vault_service.lookup_person(hub, email=keep)
        assert kept is not None and kept.name == "Jo"
        ivy = vault_service.lookup_person(hub, email=EMAIL)
        if action == "forget" and where == "after_commit":
            assert ivy is None
        else:
            assert ivy is not None and ivy.name == "Ivy"
    finally:
        hub.close()
    assert not (hub_dir / "keys" / "hub.key.next").exists()


def test_backup_killed_while_writing_leaves_no_backup_file(hub_dir: Path, tmp_path: Path) -> None:
    """A backup process killed mid-stream leaves only a hidden .partial file, never a file
    under a backup name; the next backup succeeds."""
    assets = hub_dir / "assets"
    assets.mkdir()
    with open(assets / "big.bin", "wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(1 << 20))
    target = tmp_path / "bk"
    proc = subprocess.Popen(
        [sys.executable, "-m", "microhub", "backup", "--data", str(hub_dir), "--to", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial_seen = False
    while proc.poll() is None:
        partials = list(target.glob(".*.partial")) if target.exists() else []
        if partials and partials[0].stat().st_size > 0:
            partial_seen = True
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    if not partial_seen:
        pytest.skip("the backup finished before it could be killed (machine too fast)")
    assert list(target.glob("*.age")) == []
    ok = subprocess.run(
        [sys.executable, "-m", "microhub", "backup", "--data", str(hub_dir), "--to", str(target)],
        capture_output=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr.decode()
    assert len(list(target.glob("*.age"))) == 1
