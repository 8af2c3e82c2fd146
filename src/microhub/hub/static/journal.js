// The journal format, exactly as src/microhub/domain/journal.py builds it: RFC 8785 canonical
// JSON, SHA-256, running totals and the signed summary line. The hub re-checks every byte.

export const VERSION = 1;
export const GENESIS = "0".repeat(64);
const MONEY_TYPES = new Set(["sale", "refund", "void"]);
const enc = new TextEncoder();

// RFC 8785 for our value types: objects (keys sorted by UTF-16 code units, which is what
// Array.prototype.sort does on strings), arrays, strings (JSON.stringify escapes exactly as
// RFC 8785 says), safe integers, booleans and null. Floats are refused: money is minor units.
export function canonical(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean": return value ? "true" : "false";
    case "string": return JSON.stringify(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw new Error(`not a whole number: ${value}`);
      return String(value);
    case "object":
      if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
      return "{" + Object.keys(value).filter((k) => value[k] !== undefined).sort()
        .map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    default: throw new Error(`cannot canonicalise a ${typeof value}`);
  }
}

export const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

export async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

export function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Totals.after
export function totalsAfter(totals, type, gross) {
  const counts = { ...totals.counts, [type]: (totals.counts[type] || 0) + 1 };
  if (MONEY_TYPES.has(type)) return { grand: totals.grand + gross, abs: totals.abs + Math.abs(gross), counts };
  return { grand: totals.grand, abs: totals.abs, counts };
}

export const emptyHead = (series, keyId) => ({ series, seq: 0, hash: GENESIS, key: keyId,
  totals: { grand: 0, abs: 0, counts: {} } });

// journal.build: the next record after `head`.
export async function build(head, { type, time, currency, priced = null, payments = [], data = null }) {
  const gross = priced ? priced.gross : 0;
  const body = {
    v: VERSION, series: head.series, seq: head.seq + 1, type, time, currency, key: head.key,
    prev: head.hash, gross, taxes: priced ? priced.taxes : [], payments,
    totals: totalsAfter(head.totals, type, gross),
  };
  if (priced) {
    body.lines = priced.lines;
    body.lines_hash = await sha256Hex(canonical(priced.lines));
  }
  if (data && Object.keys(data).length) body.data = data;
  const hash = await sha256Hex(canonical(body));
  return { body, hash, summary: summary(body, hash) };
}

// journal.summary: MH1|series|seq|type|time|currency|rate:gross,...|gross|key|hash
export function summary(body, hash) {
  const taxes = (body.taxes || []).map((t) => `${t.rate_bp}:${t.gross}`).join(",");
  return ["MH1", body.series, body.seq, body.type, body.time, body.currency, taxes, body.gross,
    body.key, hash].join("|");
}

export const qrPayload = (summaryLine, signature) => `${summaryLine}|${signature || "-"}`;

// journal.format_time: UTC, milliseconds, "Z".
export const formatTime = (ms) => new Date(ms).toISOString();

export function nextHead(head, record) {
  return { series: head.series, seq: record.body.seq, hash: record.hash, key: head.key,
    totals: record.body.totals };
}

export const encodeText = (text) => enc.encode(text);
