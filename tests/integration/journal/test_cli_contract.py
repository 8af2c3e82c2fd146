"""The CLI contract: the selling flow end to end, --json output, and bad input that writes nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest


def _state(hub_dir: Path) -> tuple[int, int, str]:
    """(journal rows, outbox rows, a digest of the catalog) — what a refused command must not touch."""
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    try:
        journal = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        outbox = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        catalog = hashlib.sha256(
            repr(conn.execute("SELECT * FROM catalog ORDER BY sku").fetchall()).encode()
        ).hexdigest()
    finally:
        conn.close()
    return journal, outbox, catalog


def test_sell_refund_close_verify_export(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """A day of selling through the CLI journals every step, balances, and verifies."""
    d = ["--data", str(hub_dir), "--json"]
    sale = cli(
        "sell", "--item", "LATTE", "--item", "CAKE:3", "--pay", "cash", "--tendered", "30", *d
    )
    assert sale.exit_code == 0, sale.stderr
    receipt = sale.json()
    assert receipt["receipt"] == "HUB-2"
    assert receipt["gross"] == 450 + 3 * 420
    assert sum(t["gross"] for t in receipt["taxes"]) == receipt["gross"]
    assert receipt["payments"] == [
        {"method": "cash", "amount": 1710, "tendered": 3000, "change": 1290}
    ]
    split = cli(
        "sell", "--item", "TSHIRT", "--pay", "tap:10", "--ref", "T-77", "--pay", "cash", *d
    ).json()
    assert [(p["method"], p["amount"]) for p in split["payments"]] == [
        ("tap", 1000),
        ("cash", 1500),
    ]
    invoice = cli("sell", "--item", "PRINT", "--pay", "invoice", *d).json()
    assert invoice["payments"][0]["reference"] == "INV HUB-4"
    assert invoice["payments"][0]["due"]
    training = cli("sell", "--item", "COFFEE", "--pay", "cash", "--training", *d).json()
    assert training["type"] == "training"
    assert training["totals"]["grand"] == invoice["totals"]["grand"]

    first = cli("refund", "--receipt", "HUB-2", "--item", "CAKE:2", *d).json()
    assert first["gross"] == -840 and first["ref"] == "HUB-2"
    rest = cli("refund", "--receipt", "HUB-2", *d).json()
    assert rest["gross"] == -(450 + 420)
    again = cli("refund", "--receipt", "HUB-2", *d)
    assert again.exit_code == 2
    assert again.json()["error"]["code"] == "refund_exceeds_sale"

    z = cli("close-day", *d).json()
    data = z["data"]
    assert data["day"] == 1
    assert data["gross"] == 1710 + 2500 + 1800 - 1710
    assert data["payments"] == {"cash": 1500, "invoice": 1800, "tap": 1000}
    assert sum(t["gross"] for t in data["taxes"]) == data["gross"]
    assert data["counts"]["training"] == 1 and data["training_gross"] == 320
    z2 = cli("close-day", *d).json()
    assert z2["data"]["day"] == 2 and z2["data"]["gross"] == 0

    assert cli("verify", *d).json()["ok"] is True
    out = tmp_path / "audit"
    exported = cli("export", "--format", "jsonl", "--out", str(out), *d).json()
    assert exported["records"] == 9
    assert (out / "keys.json").exists()
    bundle = cli("export", "--format", "dsfinvk", "--out", str(tmp_path / "dsfinvk"), *d).json()
    assert bundle["rows"]["transactions.csv"] == 6
    assert bundle["rows"]["cashpointclosing.csv"] == 2


def test_void_reverses_a_whole_sale_once(cli: Any, hub_dir: Path) -> None:
    """A void returns the entire sale; a second void or a refund after it is refused."""
    d = ["--data", str(hub_dir), "--json"]
    cli("sell", "--item", "BAO:2", "--pay", "tap", "--ref", "T-1", *d)
    voided = cli("void", "--receipt", "HUB-2", *d).json()
    assert voided["type"] == "void" and voided["gross"] == -1100
    assert voided["payments"][0]["terminal_ref"] == "T-1"
    assert voided["totals"]["grand"] == 0 and voided["totals"]["abs"] == 2200
    assert cli("void", "--receipt", "HUB-2", *d).exit_code == 2
    assert cli("refund", "--receipt", "HUB-2", *d).json()["error"]["code"] == "refund_exceeds_sale"


BAD_INPUT = [
    (["sell", "--item", "NOPE", "--pay", "cash"], "unknown_sku", "items[0].sku"),
    (["sell", "--item", "COFFEE:-2", "--pay", "cash"], "bad_quantity", "items[0]"),
    (["sell", "--item", "COFFEE:0", "--pay", "cash"], "bad_quantity", "items[0]"),
    (
        ["sell", "--item", "COFFEE", "--pay", "tap:5", "--ref", "T", "--pay", "cash:1"],
        "unbalanced_payment",
        "payments",
    ),
    (["sell", "--item", "COFFEE", "--pay", "cash", "--tendered", "1.00"], "invalid", "tendered"),
    (["sell", "--item", "COFFEE", "--pay", "tap"], "missing_terminal_ref", "ref"),
    (
        ["sell", "--item", "COFFEE", "--pay", "bitcoin"],
        "unknown_payment_method",
        "payments[0].method",
    ),
    (["sell", "--item", "COFFEE", "--pay", "cash:abc"], "invalid", "payments[0].amount"),
    (["sell", "--item", "COFFEE", "--pay", "cash", "--discount", "9.99"], "invalid", "discount"),
    (["refund", "--receipt", "HUB-99"], "no_receipt", "receipt"),
    (["refund", "--receipt", "HUB-1"], "not_a_sale", "receipt"),
    (["refund", "--receipt", "banana"], "bad_receipt_number", "receipt"),
    (["void", "--receipt", "HUB-42"], "no_receipt", "receipt"),
    (["verify-receipt", "MH1|broken"], "bad_receipt_payload", "payload"),
]


@pytest.mark.parametrize(("args", "code", "field"), BAD_INPUT, ids=[c for _, c, _ in BAD_INPUT])
def test_bad_input_is_refused_and_writes_nothing(
    cli: Any, hub_dir: Path, args: list[str], code: str, field: str
) -> None:
    """Bad input exits 2 with a JSON error naming the code and field, and stores nothing."""
    before = _state(hub_dir)
    result = cli(*args, "--data", str(hub_dir), "--json")
    assert result.exit_code == 2, result.stdout
    error = result.json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"]
    assert _state(hub_dir) == before


def test_human_errors_go_to_stderr_with_the_field(cli: Any, hub_dir: Path) -> None:
    """Without --json the error is one readable line on stderr naming the field."""
    result = cli("sell", "--item", "NOPE", "--pay", "cash", "--data", str(hub_dir))
    assert result.exit_code == 2
    assert "unknown sku 'NOPE'" in result.stderr
    assert "field: items[0].sku" in result.stderr
    assert result.stdout == ""


MALFORMED_CSV = [
    ("sku,name,price\nA,Apple,1.00\n", "tax_rate", 1),
    ("sku,name,price,tax_rate\nA,Apple,1.00,19\nB,Bread,1.234,7\n", "price", 3),
    ("sku,name,price,tax_rate\nA,Apple,1.00,19\nB,Bread,2.00,700\n", "tax_rate", 3),
    ("sku,name,price,tax_rate\nA,Apple,1.00,19\nA,Again,2.00,7\n", "sku", 3),
    ("sku,name,price,tax_rate\nA,,1.00,19\n", "name", 2),
    ("sku,name,price,tax_rate,stock\nA,Apple,1.00,19,-4\n", "stock", 2),
    ("sku,name,price,tax_rate\nA B,Apple,1.00,19\n", "sku", 2),
    ("sku,name,price,tax_rate\nA,Apple,-1.00,19\n", "price", 2),
]


@pytest.mark.parametrize(("content", "field", "line"), MALFORMED_CSV)
def test_malformed_catalog_imports_nothing(
    cli: Any, hub_dir: Path, tmp_path: Path, content: str, field: str, line: int
) -> None:
    """A bad row aborts the whole import with its line and field; the catalog is unchanged."""
    path = tmp_path / "items.csv"
    path.write_text(content + "Z,Zebra cake,3.00,7\n", encoding="utf-8")
    before = _state(hub_dir)
    result = cli("catalog", "import", str(path), "--data", str(hub_dir), "--json")
    assert result.exit_code == 2
    error = result.json()["error"]
    assert (error["field"], error.get("line")) == (field, line)
    assert _state(hub_dir) == before


def test_catalog_import_accepts_json_and_updates(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """A valid JSON catalog upserts items with tags and stock, and they can be sold."""
    path = tmp_path / "items.json"
    path.write_text(
        '[{"sku": "ZINE", "name": "Zine #3", "price": "6.50", "tax_rate": 7,'
        ' "tags": ["drop"], "stock": 5}]',
        encoding="utf-8",
    )
    result = cli("catalog", "import", str(path), "--data", str(hub_dir), "--json")
    assert result.exit_code == 0, result.stdout
    listing = cli("catalog", "list", "--data", str(hub_dir), "--json").json()["items"]
    zine = next(i for i in listing if i["sku"] == "ZINE")
    assert (zine["price"], zine["tax_rate_bp"], zine["tags"], zine["stock"]) == (
        650,
        700,
        ["drop"],
        5,
    )
    cli("sell", "--item", "ZINE:2", "--pay", "cash", "--data", str(hub_dir))
    listing = cli("catalog", "list", "--data", str(hub_dir), "--json").json()["items"]
    assert next(i for i in listing if i["sku"] == "ZINE")["stock"] == 3


@pytest.mark.parametrize(
    "args",
    [
        ["sell", "--item", "COFFEE", "--pay", "cash"],
        ["refund", "--receipt", "HUB-2"],
        ["close-day"],
        ["verify"],
        ["catalog", "list"],
        ["export", "--format", "jsonl", "--out", "OUT"],
    ],
)
def test_missing_data_folder_is_a_clear_error(cli: Any, tmp_path: Path, args: list[str]) -> None:
    """Every command run against a folder with no hub exits 3, says to run init, creates nothing."""
    missing = tmp_path / "nowhere"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = cli(*args, "--data", str(missing), "--json")
    assert result.exit_code == 3
    assert "microhub init" in result.json()["error"]["message"]
    assert not missing.exists()


def test_data_folder_from_environment(cli: Any, hub_dir: Path) -> None:
    """MICROHUB_DATA selects the hub when --data is not given."""
    result = cli("verify", "--json", env={"MICROHUB_DATA": str(hub_dir)})
    assert result.exit_code == 0 and result.json()["ok"] is True


def test_init_refuses_an_existing_hub(cli: Any, hub_dir: Path) -> None:
    """init never overwrites a hub: it exits 2 and leaves the journal as it was."""
    before = _state(hub_dir)
    result = cli("init", "--data", str(hub_dir), "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["code"] == "hub_exists"
    assert _state(hub_dir) == before


def test_init_keeps_the_private_key_private(cli: Any, tmp_path: Path) -> None:
    """init writes the signing key with owner-only permissions and never prints it."""
    folder = tmp_path / "new"
    result = cli("init", "--data", str(folder), "--json")
    assert result.exit_code == 0
    keys = list((folder / "keys").glob("*.pem"))
    assert len(keys) == 1
    assert keys[0].stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    secret = keys[0].read_text()
    body = secret.split("-----")[2].strip()
    assert body not in result.stdout and "PRIVATE" not in result.stdout
