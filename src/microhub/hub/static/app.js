// The point of sale. Every sale is numbered in this device's own series, signed with its
// non-extractable WebCrypto key and committed to IndexedDB BEFORE success is shown; it is then
// replayed to the hub (on load, on `online`, when the page becomes visible, after each sale and
// on a timer) until the hub acknowledges it. The hub accepts each (series, seq) exactly once.

import * as db from "./db.js";
import { build, b64url, hex, emptyHead, nextHead, formatTime, qrPayload, encodeText } from "./journal.js";
import { priceCart, formatMoney, parseMajor, makePayment, PriceError } from "./pricing.js";
import { renderSVG } from "./qr.js";

const API = "/api/v1";
const BATCH = 10;
const TICK_MS = 5000;
const CATALOG_CHECK_MS = 60000;
const state = {
  device: null, head: null, catalog: null, cart: [], category: "", query: "", view: "sell",
  online: false, lastUpload: null, offset: 0, method: "cash", blocked: null, receipt: null,
};
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const now = () => Date.now() + state.offset;  // the hub's clock, as last measured
const money = (minor) => formatMoney(minor, state.device?.hub.currency || "", state.device?.hub.exponent ?? 2);
const qrSvg = (text) => renderSVG(text, { ecc: "M", border: 2, pixelSize: 4 });

// ---- talking to the hub ---------------------------------------------------------------------

function setOnline(online) {
  if (state.online !== online) { state.online = online; renderStatus(); }
}

function learnClock(serverTime, sentMs, recvMs) {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return;
  state.offset = Math.round(server - (sentMs + recvMs) / 2);
  db.put("clock", state.offset);
}

async function api(path, { method = "GET", body, timeout = 8000, headers = {} } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  const h = { ...headers };
  if (state.device?.token) h.Authorization = `Bearer ${state.device.token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const sent = Date.now();
  let res;
  try {
    res = await fetch(API + path, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal, cache: "no-store",
    });
  } catch (e) {
    setOnline(false);
    throw Object.assign(new Error("the hub is not reachable"), { offline: true });
  } finally { clearTimeout(timer); }
  setOnline(true);
  const data = res.status === 304 ? null : await res.json().catch(() => null);
  const serverTime = data?.server_time || data?.error?.server_time;
  if (serverTime) learnClock(serverTime, sent, Date.now());
  if (!res.ok && res.status !== 304) {
    const error = data?.error || { code: "http_error", message: `HTTP ${res.status}` };
    throw Object.assign(new Error(error.message), { status: res.status, error });
  }
  return { status: res.status, data, headers: res.headers };
}

// ---- the device's key and series --------------------------------------------------------------

async function makeKey() {
  const wanted = new URLSearchParams(location.search).get("alg");
  if (wanted !== "es256") {
    try {
      return { keyPair: await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]), alg: "ed25519" };
    } catch { /* this browser lacks Ed25519: use P-256 */ }
  }
  return {
    keyPair: await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]),
    alg: "es256",
  };
}

async function sign(text) {
  const d = state.device;
  const params = d.alg === "ed25519" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
  return b64url(await crypto.subtle.sign(params, d.keyPair.privateKey, encodeText(text)));
}

async function pair(code) {
  const { keyPair, alg } = await makeKey();
  const raw = await crypto.subtle.exportKey("raw", keyPair.publicKey);
  const publicHex = hex(raw);
  const keyId = hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16);
  const { data } = await api("/pair", { method: "POST", body: { code, alg, public_key: publicHex } });
  const device = { ...data.device, token: data.token, hub: data.hub, alg, keyPair, publicHex, keyId };
  await db.put("device", device);
  state.device = device;
  await createRecord({ type: "start", data: { register: device.name, device_id: device.device_id, alg, public_key: publicHex } });
  history.replaceState(null, "", "/");
  await refreshCatalog();
  replay();
}

// Number, sign and commit one record. Serialised across tabs with the Web Locks API.
async function createRecord({ type, priced = null, payments = null, data = null }) {
  return navigator.locks.request("microhub-journal", async () => {
    const head = (await db.get("head")) || emptyHead(state.device.series, state.device.keyId);
    const moment = now();
    const receipt = `${head.series}-${head.seq + 1}`;
    const draft = await build(head, {
      type, time: formatTime(moment), currency: state.device.hub.currency, priced,
      payments: payments ? payments(receipt, moment) : [], data,
    });
    const signature = await sign(draft.summary);
    const record = {
      seq: draft.body.seq, body: draft.body, hash: draft.hash, signature,
      qr: qrPayload(draft.summary, signature), status: "waiting", created: Date.now(),
    };
    const next = nextHead(head, draft);
    await db.commitRecord(record, head.seq, next);
    state.head = next;
    return record;
  });
}

// ---- replay -------------------------------------------------------------------------------------

let replaying = null;

function replay() {
  if (!state.device || state.device.revokedSeen) return Promise.resolve();
  if (!replaying) {
    replaying = replayOnce().catch(() => {}).finally(() => { replaying = null; renderStatus(); });
  }
  return replaying;
}

async function replayOnce() {
  await uploadWalkins();
  for (;;) {
    const waiting = await db.records((r) => r.status === "waiting");
    if (!waiting.length) { state.blocked = null; return; }
    const batch = waiting.slice(0, BATCH);
    let res;
    try {
      res = await api("/records", {
        method: "POST",
        body: {
          sent_at: formatTime(now()), device_head: state.head?.seq || 0,
          records: batch.map((r) => ({ body: r.body, signature: r.signature, hash: r.hash })),
        },
      });
    } catch (e) {
      if (e.offline) return;
      const error = e.error || {};
      if (e.status === 401) { state.blocked = error; return; }
      const through = error.accepted_through ?? null;
      const ok = batch.filter((r) => through !== null && r.seq <= through);
      await db.updateRecords(ok.map((r) => [r.seq, { status: "uploaded" }]));
      const stuck = batch.find((r) => through === null || r.seq === through + 1);
      if (stuck && error.code !== "clock_skew") await db.updateRecords([[stuck.seq, { lastError: error }]]);
      state.blocked = error;  // kept and shown; retried on the next tick, never dropped
      return;
    }
    await db.updateRecords(res.data.results.map((r) => [r.seq, { status: "uploaded", issues: r.issues, lastError: null }]));
    if (state.receipt && res.data.results.some((r) => r.seq === state.receipt.seq)) {
      state.receipt = { ...state.receipt, status: "uploaded" };
      if (state.view === "receipt") renderReceipt();
    }
    state.blocked = null;
    state.lastUpload = Date.now();
    await db.put("lastUpload", state.lastUpload);
    renderStatus();
  }
}

async function uploadWalkins() {
  const waiting = await db.walkins("waiting");
  if (!waiting.length) return;
  await api("/walkins", {
    method: "POST",
    body: { walkins: waiting.slice(0, 500).map(({ id, time, count }) => ({ id, time, count })) },
  });
  await db.markWalkins(waiting.slice(0, 500).map((w) => w.id));
}

async function refreshCatalog() {
  const cached = state.catalog;
  try {
    const { status, data } = await api("/catalog", {
      headers: cached ? { "If-None-Match": `"${cached.version}"` } : {},
    });
    if (status === 200 && data) {
      state.catalog = data;
      await db.put("catalog", data);
      render();
    }
  } catch { /* offline: keep the cached catalog */ }
}

let lastCatalogCheck = 0;

async function tick() {
  if (!state.device) return;
  const counts = await db.countWaiting();
  if (counts.records || counts.walkins) await replay();
  else {
    try { await api("/health", { timeout: 3000 }); } catch { /* shown as offline */ }
  }
  if (state.online && Date.now() - lastCatalogCheck > CATALOG_CHECK_MS) {
    lastCatalogCheck = Date.now();
    refreshCatalog();  // a 304 when nothing changed (ETag = catalog version)
  }
  renderStatus();
}

// ---- selling ------------------------------------------------------------------------------------

function addToCart(sku) {
  const item = state.catalog.items.find((i) => i.sku === sku);
  const line = state.cart.find((l) => l.item.sku === sku);
  if (line) line.qty += 1; else state.cart.push({ item, qty: 1, discount: null });
  renderCart();
}

function changeQty(sku, delta) {
  const line = state.cart.find((l) => l.item.sku === sku);
  if (!line) return;
  line.qty += delta;
  if (line.qty <= 0) state.cart = state.cart.filter((l) => l !== line);
  renderCart();
}

function currentPrice() {
  const pct = Number($("#basket-discount")?.value || 0);
  const basketDiscount = pct > 0 ? { percent_bp: Math.round(pct * 100) } : null;
  return priceCart(state.cart, { basketDiscount, pricesIncludeTax: state.device.hub.prices_include_tax });
}

async function checkout() {
  const button = $("#confirm-pay");
  $("#pay-error").textContent = "";
  try {
    button.disabled = true;
    const priced = currentPrice();
    const method = state.method;
    const tenderedText = $("#tendered")?.value || "";
    const tendered = tenderedText ? parseMajor(tenderedText, state.device.hub.exponent) : null;
    if (tenderedText && tendered === null) throw new PriceError("tendered", "tendered must look like 20 or 20.50");
    const terminalRef = $("#terminal-ref")?.value || "";
    const options = (receipt, moment) => ({
      tendered, terminalRef, receipt, nowMs: moment, currency: state.device.hub.currency,
      settings: state.catalog.payments[method] || {},
    });
    makePayment(method, priced.gross, options("check", now()));  // refuse before numbering
    const record = await createRecord({
      type: $("#training")?.checked ? "training" : "sale", priced,
      payments: (receipt, moment) => [makePayment(method, priced.gross, options(receipt, moment))],
    });
    state.cart = [];
    state.receipt = record;
    show("receipt");
    replay();
  } catch (e) {
    $("#pay-error").textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

async function countWalkin() {
  const id = crypto.randomUUID().replace(/-/g, "");
  await db.addWalkin({ id, time: formatTime(now()), count: 1, status: "waiting" });
  renderStatus();
  replay();
}

// ---- rendering ----------------------------------------------------------------------------------

async function renderStatus() {
  if (!state.device) return;
  const c = await db.countWaiting();
  const el = $("#status-online");
  el.textContent = state.online ? "online" : "offline";
  el.className = state.online ? "ok" : "warn";
  $("#status-waiting").textContent = String(c.records);
  $("#status-last").textContent = state.lastUpload ? new Date(state.lastUpload).toLocaleTimeString() : "never";
  $("#walkin-count").textContent = String(c.walkinsToday);
  const blocked = $("#status-blocked");
  blocked.hidden = !state.blocked;
  blocked.textContent = state.blocked ? `upload held: ${state.blocked.message} (${state.blocked.code})` : "";
}

function show(view) {
  state.view = view;
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`;
  for (const tab of document.querySelectorAll("nav button")) tab.setAttribute("aria-current", tab.dataset.view === view);
  if (view === "receipt") renderReceipt();
  if (view === "manage") renderManage();
}

function render() {
  const paired = Boolean(state.device);
  $("#nav").hidden = !paired;
  $("#statusbar").hidden = !paired;
  if (!paired) { show("pair"); return; }
  $("#device-name").textContent = `${state.device.name} · ${state.device.series} · ${state.device.role}`;
  renderProducts();
  renderCart();
  renderStatus();
  show(state.view === "pair" ? "sell" : state.view);
}

function renderProducts() {
  const items = (state.catalog?.items || []).filter((i) => i.active);
  const cats = [...new Set(items.map((i) => i.category).filter(Boolean))];
  $("#categories").innerHTML = ["", ...cats].map((c) =>
    `<button type="button" class="chip" data-cat="${esc(c)}" aria-pressed="${c === state.category}">${esc(c || "All")}</button>`).join("");
  const q = state.query.toLowerCase();
  const shown = items.filter((i) => (!state.category || i.category === state.category)
    && (!q || i.name.toLowerCase().includes(q) || i.sku.toLowerCase().includes(q)));
  $("#products").innerHTML = shown.map((i) =>
    `<button type="button" class="product" data-sku="${esc(i.sku)}"><b>${esc(i.name)}</b><span>${esc(money(i.price))}</span></button>`).join("")
    || `<p class="muted">${state.catalog ? "No items match." : "No catalog yet: connect to the hub once."}</p>`;
}

function renderCart() {
  const box = $("#cart-lines");
  if (!state.cart.length) {
    box.innerHTML = `<p class="muted">Tap items to add them.</p>`;
    $("#cart-total").textContent = money(0);
    $("#checkout").disabled = true;
    return;
  }
  let total = 0;
  try { total = currentPrice().gross; } catch (e) { $("#pay-error").textContent = e.message; }
  box.innerHTML = state.cart.map((l) => `<div class="line"><span>${esc(l.item.name)}</span>
    <button type="button" class="qty" data-sku="${esc(l.item.sku)}" data-d="-1" aria-label="one less">−</button>
    <b>${l.qty}</b>
    <button type="button" class="qty" data-sku="${esc(l.item.sku)}" data-d="1" aria-label="one more">+</button></div>`).join("");
  $("#cart-total").textContent = money(total);
  $("#checkout").disabled = false;
}

function renderPay() {
  const methods = Object.entries(state.catalog?.payments || {}).filter(([, s]) => s.enabled !== false).map(([m]) => m);
  if (!methods.includes(state.method)) state.method = methods[0] || "cash";
  $("#methods").innerHTML = methods.map((m) =>
    `<button type="button" class="method" data-method="${m}" aria-pressed="${m === state.method}">${esc(m)}</button>`).join("");
  $("#pay-cash").hidden = state.method !== "cash";
  $("#pay-tap").hidden = state.method !== "tap";
  $("#pay-invoice").hidden = state.method !== "invoice";
  try { $("#pay-total").textContent = money(currentPrice().gross); } catch (e) { $("#pay-error").textContent = e.message; }
}

function renderReceipt() {
  const r = state.receipt;
  if (!r) return;
  const b = r.body;
  const pays = b.payments.map((p) => {
    let extra = "";
    if (p.method === "cash") extra = `tendered ${money(p.tendered)}, change ${money(p.change)}`;
    if (p.method === "tap") extra = `terminal ref ${esc(p.terminal_ref)}`;
    if (p.method === "invoice") extra = `due ${esc(p.due)}, reference ${esc(p.reference)}`;
    const epc = p.epc_qr ? `<figure class="qr">${qrSvg(p.epc_qr)}<figcaption>Scan with a banking app to pay by ${esc(p.due)}</figcaption></figure>` : "";
    return `<p>Paid by ${esc(p.method)} ${money(p.amount)} <small>${extra}</small></p>${epc}`;
  }).join("");
  $("#receipt").innerHTML = `<h2>${b.type === "training" ? "TRAINING — not a sale" : "Receipt"} <span id="receipt-number">${esc(b.series)}-${b.seq}</span></h2>
    <p class="muted">${esc(new Date(b.time).toLocaleString())} · ${r.status === "waiting" ? "waiting to upload" : "uploaded"}</p>
    ${b.lines.map((l) => `<div class="line"><span>${l.qty} × ${esc(l.name)}</span><b>${money(l.amount)}</b></div>`).join("")}
    ${b.taxes.map((t) => `<div class="line muted"><span>incl. tax ${t.rate_bp / 100} % on ${money(t.net)}</span><span>${money(t.tax)}</span></div>`).join("")}
    <div class="line total"><span>Total</span><b>${money(b.gross)}</b></div>${pays}
    <figure class="qr">${qrSvg(r.qr)}<figcaption>Signed receipt: verify with microhub verify-receipt</figcaption></figure>`;
}

async function renderManage() {
  const local = await db.records((r) => r.lastError || (r.issues && r.issues.length));
  const isManager = state.device.role === "manager";
  $("#approval").hidden = isManager;
  $("#manager-only").hidden = !isManager;
  $("#local-issues").innerHTML = local.length ? local.map((r) => `<li>${esc(r.body.series)}-${r.seq}: ${
    esc(r.lastError ? `held: ${r.lastError.message}` : r.issues.map((i) => i.message).join("; "))}</li>`).join("") : "<li>none</li>";
  if (!isManager) return;
  try {
    const [{ data: devs }, { data: rej }, { data: kpi }] = await Promise.all([api("/devices"), api("/rejects"), api("/kpi/conversion")]);
    $("#devices").innerHTML = devs.devices.map((d) => `<li><b>${esc(d.name)}</b> ${esc(d.role)} ${esc(d.series)} — ${d.head_seq} records${
      d.missing ? `, <b>${d.missing} not uploaded</b>` : ""}${d.revoked ? ", revoked" : ""}${d.skew_ms !== null ? `, clock ${(d.skew_ms / 1000).toFixed(1)} s` : ""}</li>`).join("");
    $("#rejects").innerHTML = rej.rejects.map((x) => `<li>${esc(x.series)}-${x.seq} (${esc(x.device)}): ${esc(x.message)} <small>${esc(x.code)}</small></li>`).join("") || "<li>none</li>";
    $("#conversion").innerHTML = kpi.hours.map((h) => `<li>${esc(h.hour)}: ${h.walkins} in, ${h.sales} sales${h.conversion !== null ? ` (${Math.round(h.conversion * 100)} %)` : ""}</li>`).join("") || "<li>no data yet</li>";
  } catch (e) {
    $("#devices").innerHTML = `<li>${esc(e.message)}</li>`;
  }
}

async function refund(event) {
  event.preventDefault();
  const out = $("#refund-result");
  out.textContent = "";
  const form = event.target;
  const body = { receipt: form.receipt.value.trim().toUpperCase() };
  const items = form.items.value.trim();
  if (items) {
    body.items = items.split(/[ ,]+/).map((part) => {
      const [sku, qty] = part.split(":");
      return { sku, qty: Number(qty || 1) };
    });
  }
  if (form.terminal_ref.value.trim()) body.terminal_ref = form.terminal_ref.value.trim();
  if (state.device.role !== "manager") body.approval = { manager: form.manager.value.trim(), pin: form.pin.value };
  try {
    const { data } = await api("/refunds", { method: "POST", body });
    out.textContent = `Refunded as ${data.receipt.receipt} (${money(data.receipt.gross)}), approved by ${data.approved_by}.`;
    form.reset();
  } catch (e) {
    out.textContent = e.offline ? "Refunds need the hub: try again when online." : `${e.message}${e.error?.field ? ` [${e.error.field}]` : ""}`;
  }
}

async function setPin(event) {
  event.preventDefault();
  try {
    await api("/pin", { method: "POST", body: { pin: event.target.pin.value } });
    $("#pin-result").textContent = "PIN set.";
    event.target.reset();
  } catch (e) { $("#pin-result").textContent = e.message; }
}

// ---- wiring -------------------------------------------------------------------------------------

function wire() {
  document.addEventListener("click", (e) => {
    const t = e.target.closest("button");
    if (!t) return;
    if (t.classList.contains("product")) addToCart(t.dataset.sku);
    else if (t.classList.contains("qty")) changeQty(t.dataset.sku, Number(t.dataset.d));
    else if (t.classList.contains("chip")) { state.category = t.dataset.cat; renderProducts(); }
    else if (t.classList.contains("method")) { state.method = t.dataset.method; renderPay(); }
    else if (t.dataset.view) show(t.dataset.view);
  });
  $("#search").addEventListener("input", (e) => { state.query = e.target.value; renderProducts(); });
  $("#basket-discount").addEventListener("input", renderCart);
  $("#checkout").addEventListener("click", () => { show("pay"); renderPay(); });
  $("#confirm-pay").addEventListener("click", checkout);
  $("#new-sale").addEventListener("click", () => { state.receipt = null; show("sell"); renderCart(); });
  $("#walkin").addEventListener("click", countWalkin);
  $("#refund-form").addEventListener("submit", refund);
  $("#pin-form").addEventListener("submit", setPin);
  $("#pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#pair-error").textContent = "";
    try { await pair(e.target.code.value.trim()); render(); } catch (err) { $("#pair-error").textContent = err.message; }
  });
  window.addEventListener("online", replay);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") replay(); });
  setInterval(tick, TICK_MS);
}

async function start() {
  wire();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  [state.device, state.head, state.catalog, state.lastUpload, state.offset] = await Promise.all(
    ["device", "head", "catalog", "lastUpload", "clock"].map((k) => db.get(k)));
  state.offset ||= 0;
  const code = new URLSearchParams(location.hash.slice(1)).get("pair");
  if (!state.device && code) {
    $("#pair-form").code.value = code;
    try { await pair(code); } catch (err) { $("#pair-error").textContent = err.message; }
  }
  render();
  document.body.dataset.ready = "1";
  window.microhubReadyMs = performance.now();  // time to interactive, read by bench/hub_http.py
  if (state.device) { refreshCatalog(); replay(); }
}

start();
