"""A DSFinV-K-shaped CSV bundle (Germany's "Digitale Schnittstelle der Finanzverwaltung für
Kassensysteme"). It follows the standard's file and column names for the parts microhub has;
it is *not* a certified export.

Files: ``cashregister.csv`` (Stamm_Kassen), ``transactions.csv`` (Bonkopf),
``transactions_vat.csv`` (Bonkopf_USt), ``lines.csv`` (Bonpos), ``datapayment.csv``
(Bonkopf_Zahlarten), ``cashpointclosing.csv`` (Stamm_Abschluss) and ``index.xml`` describing
them. Comma-separated, UTF-8, '.' as decimal separator, amounts in major units.
"""

from __future__ import annotations

import csv
import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

from microhub.domain.money import Currency, currency, format_minor


def _money(minor: int, *, currency: Currency) -> str:
    return format_minor(minor, currency)


__all__ = ["export_dsfinvk"]

_FILES: dict[str, list[str]] = {
    "cashregister.csv": [
        "Z_KASSE_ID",
        "KASSE_SERIENNR",
        "KASSE_SW_BRAND",
        "KASSE_BASISWAEH_CODE",
        "KEYS",
    ],
    "transactions.csv": [
        "Z_KASSE_ID",
        "BON_ID",
        "BON_NR",
        "BON_TYP",
        "BON_START",
        "BON_ENDE",
        "UMS_BRUTTO",
        "BON_STORNO",
        "BON_HASH",
        "BON_REF",
    ],
    "transactions_vat.csv": [
        "Z_KASSE_ID",
        "BON_ID",
        "UST_SCHLUESSEL",
        "BON_BRUTTO",
        "BON_NETTO",
        "BON_UST",
    ],
    "lines.csv": [
        "Z_KASSE_ID",
        "BON_ID",
        "POS_ZEILE",
        "ART_NR",
        "ARTIKELTEXT",
        "MENGE",
        "STK_BR",
        "RABATT",
        "POS_BRUTTO",
        "UST_SATZ",
    ],
    "datapayment.csv": [
        "Z_KASSE_ID",
        "BON_ID",
        "ZAHLART_TYP",
        "ZAHLART_NAME",
        "ZAHLWAEH_BETRAG",
        "REFERENZ",
    ],
    "cashpointclosing.csv": [
        "Z_KASSE_ID",
        "Z_NR",
        "Z_BUCHUNGSTAG",
        "Z_ERSTELLUNG",
        "Z_START_ID",
        "Z_ENDE_ID",
        "Z_SE_ZAHLUNGEN",
        "Z_SE_BARZAHLUNGEN",
    ],
}
_BON_TYP = {
    "sale": "Beleg",
    "refund": "Beleg",
    "void": "Beleg",
    "training": "AVTraining",
    "zero": "AVSonstige",
}
_ZAHLART = {"cash": "Bar", "tap": "Unbar", "invoice": "Keine"}


def _rate(rate_bp: int) -> str:
    return f"{rate_bp // 100}.{rate_bp % 100:02d}"


def export_dsfinvk(conn: sqlite3.Connection, out: Path, *, currency_code: str) -> dict[str, int]:
    """Write the bundle into ``out``; return the number of rows per file."""
    cur = currency(currency_code)
    money = functools.partial(_money, currency=cur)
    handles = {name: open(out / name, "w", encoding="utf-8", newline="") for name in _FILES}  # noqa: SIM115 (closed below)
    counts = dict.fromkeys(_FILES, 0)
    try:
        writers = {name: csv.writer(h) for name, h in handles.items()}
        for name, header in _FILES.items():
            writers[name].writerow(header)

        def row(name: str, values: list[Any]) -> None:
            writers[name].writerow(values)
            counts[name] += 1

        for series, key_id in conn.execute("SELECT series, key_id FROM series ORDER BY series"):
            row("cashregister.csv", [series, series, "microhub", cur.code, key_id])
        for body_raw, digest in conn.execute(
            "SELECT body, hash FROM journal ORDER BY series, seq, id"
        ):
            body = json.loads(body_raw)
            series, seq, rtype = body["series"], body["seq"], body["type"]
            bon_id = f"{series}-{seq}"
            if rtype == "close":
                data = body.get("data", {})
                first = min(
                    (s["first_seq"] for s in data.get("series", []) if s["first_seq"]), default=None
                )
                row(
                    "cashpointclosing.csv",
                    [
                        series,
                        data.get("day"),
                        body["time"][:10],
                        body["time"],
                        first,
                        seq - 1,
                        money(data.get("gross", 0)),
                        money(data.get("payments", {}).get("cash", 0)),
                    ],
                )
            if rtype not in _BON_TYP:
                continue
            ref = body.get("ref")
            row(
                "transactions.csv",
                [
                    series,
                    bon_id,
                    seq,
                    _BON_TYP[rtype],
                    body["time"],
                    body["time"],
                    money(body["gross"]),
                    1 if rtype == "void" else 0,
                    digest,
                    f"{ref['series']}-{ref['seq']}" if ref else "",
                ],
            )
            for tax in body["taxes"]:
                row(
                    "transactions_vat.csv",
                    [
                        series,
                        bon_id,
                        _rate(tax["rate_bp"]),
                        money(tax["gross"]),
                        money(tax["net"]),
                        money(tax["tax"]),
                    ],
                )
            for index, line in enumerate(body.get("lines", []), start=1):
                row(
                    "lines.csv",
                    [
                        series,
                        bon_id,
                        index,
                        line["sku"],
                        line["name"],
                        line["qty"],
                        money(line["unit"]),
                        money(line["discount"]),
                        money(line["amount"]),
                        _rate(line["rate_bp"]),
                    ],
                )
            for payment in body["payments"]:
                row(
                    "datapayment.csv",
                    [
                        series,
                        bon_id,
                        _ZAHLART.get(payment["method"], "Unbar"),
                        payment["method"],
                        money(payment["amount"]),
                        payment.get("terminal_ref") or payment.get("reference", ""),
                    ],
                )
    finally:
        for handle in handles.values():
            handle.close()
    tables = "\n".join(
        f"    <Table><URL>{name}</URL><Name>{name[:-4]}</Name>"
        + "".join(f"<VariableColumn><Name>{c}</Name></VariableColumn>" for c in cols)
        + "</Table>"
        for name, cols in _FILES.items()
    )
    (out / "index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<DataSet>\n  <Version>microhub-dsfinvk-shaped-1'
        "</Version>\n  <Media><Name>microhub export</Name>\n"
        "    <DecimalSymbol>.</DecimalSymbol><DigitGroupingSymbol/>\n"
        f"{tables}\n  </Media>\n</DataSet>\n",
        encoding="utf-8",
    )
    return counts
