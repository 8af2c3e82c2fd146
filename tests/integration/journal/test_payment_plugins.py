"""Payment methods are plug-ins: a package adds one through the entry point, without touching microhub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VOUCHER = """
from microhub.domain.payments import Payment


class VoucherMethod:
    name = "voucher"
    description = "A paper voucher with a printed code."

    def prepare(self, *, amount, options, context):
        return Payment("voucher", amount, {"code": options.get("ref", "")})

    def refund(self, *, amount, options, context):
        return Payment("voucher", -amount, {"code": options.get("ref", "")})
"""


def _install_plugin(site: Path) -> None:
    """Lay the plug-in out on disk exactly as pip installs a package: code + dist-info."""
    (site / "mh_voucher").mkdir(parents=True)
    (site / "mh_voucher" / "__init__.py").write_text(VOUCHER)
    info = site / "mh_voucher-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mh-voucher\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[microhub.payments]\nvoucher = mh_voucher:VoucherMethod\n"
    )


def _microhub(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "microhub", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_an_installed_package_adds_a_payment_method(hub_dir: Path, tmp_path: Path) -> None:
    """With the plug-in installed, `sell --pay voucher` journals a voucher payment that verifies;
    without it, the method is refused as unknown."""
    site = tmp_path / "site"
    _install_plugin(site)
    without = _microhub(
        "sell", "--item", "COFFEE", "--pay", "voucher", "--data", str(hub_dir), "--json"
    )
    assert without.returncode == 2 and '"unknown_payment_method"' in without.stdout
    sold = _microhub(
        "sell",
        "--item",
        "COFFEE",
        "--pay",
        "voucher",
        "--ref",
        "V-123",
        "--data",
        str(hub_dir),
        "--json",
        site=site,
    )
    assert sold.returncode == 0, sold.stderr
    assert '"method": "voucher"' in sold.stdout and '"code": "V-123"' in sold.stdout
    assert _microhub("verify", "--data", str(hub_dir)).returncode == 0


def test_builtin_methods_come_through_entry_points() -> None:
    """tap, invoice and cash are discovered through the same entry point group a plug-in uses."""
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="microhub.payments")}
    assert {"tap", "invoice", "cash"} <= names
