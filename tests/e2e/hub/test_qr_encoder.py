"""qr.js, the PWA's own QR Code encoder, draws in Chromium exactly the symbols segno draws.

segno (pure Python, ISO/IEC 18004) is the reference. Its byte-mode padding has a known quirk
(heuer/segno#123, #148, open in segno 1.6.6): when the bit stream already ends on a codeword
boundary after the terminator (always so in byte mode) it adds a whole 0x00 codeword before the
0xEC/0x11 pad codewords, where the standard adds none. The reference matrices are therefore made
with segno's ``write_padding_bits`` replaced by the standard's rule (``-length % 8`` zero bits);
``test_full_symbols_match_unmodified_segno`` checks, with segno untouched, the symbols that have
no pad codewords and so no room for the quirk.
"""

from __future__ import annotations

import base64
import random
import re
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any, ClassVar

import pytest
import segno
import segno.consts
import segno.encoder
from hubserver import CHROMIUM, CHROMIUM_ARGS

from microhub.domain.epc import epc_payload

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")

STATIC = files("microhub") / "hub" / "static"
LEVELS = "LMQH"
SEGNO_LEVEL = {
    "L": segno.consts.ERROR_LEVEL_L,
    "M": segno.consts.ERROR_LEVEL_M,
    "Q": segno.consts.ERROR_LEVEL_Q,
    "H": segno.consts.ERROR_LEVEL_H,
}


def _receipt(rng: random.Random, seq: int) -> str:
    sig = base64.urlsafe_b64encode(rng.randbytes(64)).rstrip(b"=").decode()  # 86 characters
    return (
        f"MH1|HUB|{seq}|sale|2026-12-04T16:12:{seq % 60:02d}.506Z|EUR|1900:450,700:840|1290|"
        f"{rng.randbytes(8).hex()}|{rng.randbytes(32).hex()}|{sig}"
    )


def _payloads() -> list[str]:
    rng = random.Random(18004)
    fixed = [
        "a", " ", "\n", "0", "\x00", "Hello, World!", "HELLO WORLD", "0123456789" * 3,
        "https://hub.local:8443/pair?code=K7Q2-9XWD", "Crème brûlée", "Grüße aus Köln — 12,50 €",
        "漢字かなカナ", "emoji 🎉🧾💶", "👨\u200d👩\u200d👧 family", "\u2028line\tsep\r\n",
        "BCD\n002\n1\nSCT\n\nName\nDE89370400440532013000\nEUR12.50\n\n\nINV HUB-3",
        epc_payload(name="Café Müller & Söhne", iban="DE89 3704 0044 0532 0130 00",
                    amount_minor=123456, reference="INV HUB-2026-000042"),
        epc_payload(name="Hofladen", iban="AT611904300234573201", amount_minor=1,
                    reference="R", bic="BKAUATWW"),
    ]  # fmt: skip
    fixed += [_receipt(rng, seq) for seq in (1, 42, 99_999)]
    alphabet = [chr(c) for c in range(32, 127)] + list("äöüßéèçñ€£¥—…«»") + ["🎉", "漢", "\n"]
    sizes = [*range(1, 21), 24, 31, 42, 55, 77, 100, 134, 180, 230, 300, 390, 500]
    sizes += [640, 800, 1000, 1200, 1273]  # 1,273 bytes: the most version 40-H holds
    randoms = []
    for size in sizes:  # exactly `size` UTF-8 bytes
        text = ""
        while len(text.encode()) < size:
            char = rng.choice(alphabet)
            text += char if len((text + char).encode()) <= size else "x"
        randoms.append(text)
    return fixed + randoms


PAYLOADS = _payloads()


def _standard_padding_bits(buff: Any, version: int, length: int) -> None:
    """Zero bits up to the next codeword boundary, none when already on one (7.4.10)."""
    buff.extend([0] * (-length % 8))


def _rows(code: segno.QRCode) -> list[str]:
    return ["".join("1" if m else "0" for m in row) for row in code.matrix_iter(border=0)]


def _segno(
    text: str | bytes, ecc: str, version: int | None = None, mask: int | None = None
) -> dict[str, Any]:
    data = text.encode() if isinstance(text, str) else text  # UTF-8, as qr.js encodes
    code = segno.make(data, error=ecc.lower(), version=version, mask=mask, mode="byte",
                      micro=False, boost_error=False)  # fmt: skip
    assert code.mode == "byte"
    assert code.error == ecc
    return {"version": code.version, "mask": code.mask, "rows": _rows(code)}


def _byte_capacity(version: int, ecc: str) -> int:
    """segno's table of data bits, less the mode indicator and the character count."""
    bits = segno.consts.SYMBOL_CAPACITY[version][SEGNO_LEVEL[ecc]]
    return (bits - 4 - (8 if version < 10 else 16)) // 8


class _StaticHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        ".js": "text/javascript",
        ".html": "text/html",
        "": "application/octet-stream",
    }

    def do_GET(self) -> None:
        if self.path == "/blank":
            body = b"<!doctype html><title>qr.js</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """A Chromium page on a loopback server that serves the PWA's static folder."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_StaticHandler, directory=str(STATIC)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with playwright_sync.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                tab = browser.new_page()
                tab.goto(f"http://127.0.0.1:{server.server_address[1]}/blank")
                yield tab
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


RUN = """async (jobs) => {
  const { qrMatrix } = await import("/qr.js");
  return jobs.map(([text, ecc, version, mask]) => {
    try {
      const m = qrMatrix(text, { ecc, version, mask });
      const rows = m.modules.map((row) => row.map((dark) => (dark ? "1" : "0")).join(""));
      const square = m.size === rows.length && rows.every((row) => row.length === m.size);
      return { version: m.version, mask: m.mask, rows, square };
    } catch (error) {
      return { error: `${error.constructor.name}: ${error.message}` };
    }
  });
}"""


def _run(page: Any, jobs: list[tuple[str, str, int | None, int | None]]) -> list[dict[str, Any]]:
    return page.evaluate(RUN, [list(job) for job in jobs])


def _differences(ours: list[str], theirs: list[str]) -> str:
    if len(ours) != len(theirs):
        return f"size {len(ours)} != {len(theirs)}"
    cells = [(r, c) for r, (a, b) in enumerate(zip(ours, theirs, strict=True))
             for c in range(len(a)) if a[c] != b[c]]  # fmt: skip
    return f"{len(cells)} modules differ, first {cells[:5]}" if cells else ""


@pytest.fixture(scope="module")
def reference() -> dict[tuple[str, str], dict[str, Any]]:
    """segno's auto-chosen symbol for every payload and level (standard padding, see above)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segno.encoder, "write_padding_bits", _standard_padding_bits)
        return {(text, ecc): _segno(text, ecc) for text in PAYLOADS for ecc in LEVELS}


@pytest.fixture(scope="module")
def ours(page: Any, reference: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """qr.js's symbols for the same cases: forced to segno's version and mask, and automatic."""
    cases = list(reference)
    forced = _run(
        page, [(t, e, reference[t, e]["version"], reference[t, e]["mask"]) for t, e in cases]
    )
    auto = _run(page, [(t, e, None, None) for t, e in cases])
    return {
        "forced": dict(zip(cases, forced, strict=True)),
        "auto": dict(zip(cases, auto, strict=True)),
    }


def test_the_payloads_cover_versions_and_levels(reference: dict[tuple[str, str], Any]) -> None:
    """The payloads span 1 to 1,273 UTF-8 bytes, all four levels, and versions 1 to 40."""
    sizes = {len(text.encode()) for text, _ in reference}
    versions = {ref["version"] for ref in reference.values()}
    assert min(sizes) == 1 and max(sizes) == 1273
    assert {1, 2, 6, 7, 9, 10, 40} <= versions
    assert {ecc for _, ecc in reference} == set(LEVELS)


def test_matrices_equal_segno_at_its_version_and_mask(ours: dict[str, Any], reference: Any) -> None:
    """With segno's version and mask forced, every module of every payload and level is equal."""
    failures = []
    for case, ref in reference.items():
        got = ours["forced"][case]
        if "error" in got:
            failures.append((case, got["error"]))
        elif diff := _differences(got["rows"], ref["rows"]):
            failures.append((case, ref["version"], ref["mask"], diff))
        else:
            assert got["square"], case
    assert failures == [], f"{len(failures)} of {len(reference)} differ: {failures[:5]}"


def test_automatic_version_and_mask_equal_segno(ours: dict[str, Any], reference: Any) -> None:
    """Left to choose, qr.js picks segno's smallest version and its lowest-penalty mask."""
    failures = []
    for case, ref in reference.items():
        got = ours["auto"][case]
        chosen = (got.get("version"), got.get("mask"))
        if chosen != (ref["version"], ref["mask"]) or got["rows"] != ref["rows"]:
            failures.append((case, "ours", chosen, "segno", (ref["version"], ref["mask"])))
    assert failures == [], f"{len(failures)} of {len(reference)} differ: {failures[:5]}"


def test_every_mask_and_larger_versions_equal_segno(page: Any) -> None:
    """All eight masks and versions well above the minimum (7, 10, 27, 32, 40) match segno too."""
    rng = random.Random(7)
    texts = ["Grüße 🎉", "MH1|HUB|42|sale", _receipt(rng, 7)]
    jobs = [(t, e, v, m) for t in texts[:2] for e in LEVELS for v in (3, 7) for m in range(8)]
    jobs += [
        (t, e, v, (v + i) % 8)
        for i, t in enumerate(texts)
        for e in LEVELS
        for v in (10, 27, 32, 40)
        if len(t.encode()) <= _byte_capacity(v, e)
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segno.encoder, "write_padding_bits", _standard_padding_bits)
        expected = [_segno(t, e, v, m)["rows"] for t, e, v, m in jobs]
    got = _run(page, jobs)
    failures = [(job[1:], _differences(g.get("rows", []), want))
                for job, g, want in zip(jobs, got, expected, strict=True) if g.get("rows") != want]  # fmt: skip
    assert failures == [], f"{len(failures)} of {len(jobs)} differ: {failures[:5]}"


def test_full_symbols_match_unmodified_segno(page: Any) -> None:
    """Texts that fill a version exactly (no pad codewords) match untouched segno, version and mask."""
    rng = random.Random(40)
    texts = []
    for ecc in LEVELS:
        for version in (1, 2, 6, 7, 9, 10, 11, 20, 26, 40):
            capacity = _byte_capacity(version, ecc)
            texts.append(
                (bytes(rng.randrange(32, 127) for _ in range(capacity)).decode(), ecc, version)
            )
    expected = [_segno(text, ecc) for text, ecc, _ in texts]
    assert [ref["version"] for ref in expected] == [version for _, _, version in texts]
    got = _run(page, [(text, ecc, None, None) for text, ecc, _ in texts])
    failures = [(ecc, version, g.get("version"), g.get("mask"), ref["mask"])
                for (_, ecc, version), g, ref in zip(texts, got, expected, strict=True)
                if (g.get("version"), g.get("mask"), g.get("rows")) != (ref["version"], ref["mask"], ref["rows"])]  # fmt: skip
    assert failures == [], failures


def test_one_byte_more_than_a_version_holds_takes_the_next(page: Any) -> None:
    """Capacity boundaries agree with segno's table: n bytes fit version v, n + 1 need v + 1."""
    jobs, expected = [], []
    for ecc in LEVELS:
        for version in (1, 5, 9, 10, 22, 39):
            capacity = _byte_capacity(version, ecc)
            jobs += [("é" * (capacity // 2) + "x" * (capacity % 2), ecc, None, None),
                     ("x" * (capacity + 1), ecc, None, None)]  # fmt: skip
            expected += [version, version + 1]
    assert [g.get("version") for g in _run(page, jobs)] == expected


def test_too_long_or_bad_options_raise_clear_errors(page: Any) -> None:
    """Past version 40's byte capacity, a too small forced version, or a bad option: an Error."""
    limits = {ecc: _byte_capacity(40, ecc) for ecc in LEVELS}
    assert limits == {"L": 2953, "M": 2331, "Q": 1663, "H": 1273}
    jobs = [("x" * limits[ecc], ecc, None, None) for ecc in LEVELS]
    jobs += [("x" * (limits[ecc] + 1), ecc, None, None) for ecc in LEVELS]
    jobs += [("€" * 1000, "L", None, None), ("x" * 18, "L", 1, None), ("x", "X", None, None),
             ("x", "M", 41, None), ("x", "M", None, 8)]  # fmt: skip
    got = _run(page, jobs)
    assert [g.get("version") for g in got[:4]] == [40] * 4
    for ecc, g in zip(LEVELS, got[4:8], strict=True):
        assert g["error"] == (
            f"Error: qr.js: the text is {limits[ecc] + 1} bytes; a QR Code (version 40, level {ecc})"
            f" holds at most {limits[ecc]}"
        )
    assert got[8]["error"].startswith("Error: qr.js: the text is 3000 bytes;")
    assert (
        got[9]["error"] == "Error: qr.js: the text is 18 bytes, too long for version 1 at level L"
    )
    assert "level must be L, M, Q or H" in got[10]["error"]
    assert "version must be an integer from 1 to 40" in got[11]["error"]
    assert "mask must be an integer from 0 to 7" in got[12]["error"]


SVG = """async ([text, options]) => {
  const { renderSVG, qrMatrix } = await import("/qr.js");
  const rows = qrMatrix(text, { ecc: options.ecc ?? "M" }).modules
    .map((row) => row.map((dark) => (dark ? "1" : "0")).join(""));
  return { svg: renderSVG(text, options), rows };
}"""


@pytest.mark.parametrize(
    ("options", "border", "pixel"), [({}, 2, 4), ({"ecc": "H", "border": 4, "pixelSize": 3}, 4, 3)]
)
def test_render_svg_draws_exactly_the_dark_modules(
    page: Any, options: dict[str, Any], border: int, pixel: int
) -> None:
    """renderSVG gives one path covering exactly the dark modules, on white, at the asked size."""
    text = _receipt(random.Random(3), 3)
    out = page.evaluate(SVG, [text, options])
    root = ET.fromstring(out["svg"])
    ns = "{http://www.w3.org/2000/svg}"
    size = len(out["rows"])
    side = (size + 2 * border) * pixel
    assert root.tag == f"{ns}svg" and root.get("shape-rendering") == "crispEdges"
    assert (root.get("width"), root.get("height")) == (str(side), str(side))
    assert root.get("viewBox") == f"0 0 {size + 2 * border} {size + 2 * border}"
    rect, path = list(root)
    assert rect.tag == f"{ns}rect" and rect.get("fill") == "#fff"
    assert path.tag == f"{ns}path" and path.get("fill") == "#000"
    dark = set()
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path.get("d", "")):
        dark |= {(int(y) - border, int(x) - border + i) for i in range(int(w))}
    assert re.fullmatch(r"(M\d+ \d+h\d+v1h-\d+z)+", path.get("d", ""))
    want = {(r, c) for r, row in enumerate(out["rows"]) for c, m in enumerate(row) if m == "1"}
    assert dark == want
