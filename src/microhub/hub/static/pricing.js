// Pricing, discounts and per-rate tax, exactly as src/microhub/domain/sale.py and tax.py compute
// them (integer minor units; tax once per rate, rounded half away from zero). The hub re-checks.

export const MAX_QTY = 100000;

export function roundDiv(n, d) {
  const q = Math.floor(Math.abs(n) / d);
  const r = Math.abs(n) - q * d;
  const out = r * 2 >= d ? q + 1 : q;
  return n >= 0 ? out : -out;
}

// discount: {amount} minor units or {percent_bp} basis points
function applyDiscount(discount, base, field) {
  const amount = discount?.amount || 0;
  const pbp = discount?.percent_bp || 0;
  if (amount < 0 || pbp < 0 || pbp > 10000 || (amount && pbp)) throw new PriceError(field, "bad discount");
  const value = amount ? amount : roundDiv(base * pbp, 10000);
  if (value > base) throw new PriceError(field, `discount ${value} is more than ${base}`);
  return value;
}

// Largest-remainder split of `total` in proportion to `weights` (ties: earlier lines first).
export function share(total, weights) {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0) return weights.map(() => 0);
  const floors = weights.map((w) => Math.floor((total * w) / sum));
  const order = weights.map((w, i) => [(total * w) % sum, i])
    .sort((a, b) => (b[0] - a[0]) || (a[1] - b[1]));
  let short = total - floors.reduce((a, b) => a + b, 0);
  for (const [, i] of order) { if (short-- <= 0) break; floors[i] += 1; }
  return floors;
}

export function breakdown(pairs, pricesIncludeTax) {
  const sums = new Map();
  for (const [rate, amount] of pairs) sums.set(rate, (sums.get(rate) || 0) + amount);
  return [...sums.keys()].sort((a, b) => b - a).map((rate) => {
    const amount = sums.get(rate);
    if (pricesIncludeTax) {
      const tax = roundDiv(amount * rate, 10000 + rate);
      return { rate_bp: rate, net: amount - tax, tax, gross: amount };
    }
    const tax = roundDiv(amount * rate, 10000);
    return { rate_bp: rate, net: amount, tax, gross: amount + tax };
  });
}

export class PriceError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

// cart: [{item, qty, discount}] -> {lines, taxes, gross}
export function priceCart(cart, { basketDiscount = null, pricesIncludeTax }) {
  if (!cart.length) throw new PriceError("items", "a sale needs at least one item");
  const bases = [], lineDiscounts = [];
  cart.forEach((line, i) => {
    if (!Number.isInteger(line.qty) || line.qty < 1 || line.qty > MAX_QTY) throw new PriceError(`items[${i}].qty`, "bad quantity");
    const base = line.qty * line.item.price;
    lineDiscounts.push(applyDiscount(line.discount, base, `items[${i}].discount`));
    bases.push(base - lineDiscounts[i]);
  });
  const basket = applyDiscount(basketDiscount, bases.reduce((a, b) => a + b, 0), "discount");
  const shares = share(basket, bases);
  const lines = cart.map((line, i) => ({
    sku: line.item.sku, name: line.item.name, qty: line.qty, unit: line.item.price,
    rate_bp: line.item.tax_rate_bp, discount: lineDiscounts[i] + shares[i], amount: bases[i] - shares[i],
  }));
  const taxes = breakdown(lines.map((l) => [l.rate_bp, l.amount]), pricesIncludeTax);
  return { lines, taxes, gross: taxes.reduce((a, t) => a + t.gross, 0) };
}

export function formatMoney(minor, currency, exponent = 2) {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  if (!exponent) return `${sign}${abs} ${currency}`;
  const div = 10 ** exponent;
  return `${sign}${Math.floor(abs / div)}.${String(abs % div).padStart(exponent, "0")} ${currency}`;
}

export function parseMajor(text, exponent = 2) {
  const m = String(text).trim().match(/^(\d{1,9})(?:[.,](\d{1,2}))?$/);
  if (!m) return null;
  return Number(m[1]) * 10 ** exponent + Number(((m[2] || "") + "00").slice(0, exponent) || 0);
}

// payments/invoice.py's EPC QR (SEPA credit transfer) text
export function epcPayload({ name, iban, bic = "", amount, reference }) {
  const euros = Math.floor(amount / 100), cents = String(amount % 100).padStart(2, "0");
  return ["BCD", "002", "1", "SCT", bic.toUpperCase(), name, iban.replace(/ /g, "").toUpperCase(),
    `EUR${euros}.${cents}`, "", "", reference.slice(0, 140)].join("\n");
}

// The payment as the built-in methods record it (payments/cash.py, tap.py, invoice.py).
export function makePayment(method, amount, { tendered = null, terminalRef = "", receipt, nowMs, settings = {}, currency }) {
  if (method === "cash") {
    const t = tendered ?? amount;
    if (t < amount) throw new PriceError("tendered", "tendered is less than the total");
    return { method, amount, tendered: t, change: t - amount };
  }
  if (method === "tap") {
    const ref = terminalRef.trim();
    if (!/^[\w./:#-]{1,64}$/.test(ref)) throw new PriceError("ref", "enter the terminal's reference");
    return { method, amount, terminal_ref: ref };
  }
  if (method === "invoice") {
    const days = Number(settings.due_days ?? 14);
    const due = new Date(nowMs + days * 86400000).toISOString().slice(0, 10);
    const reference = `INV ${receipt}`;
    const out = { method, amount, due, reference };
    if (currency === "EUR" && settings.name && settings.iban) {
      out.epc_qr = epcPayload({ name: settings.name, iban: settings.iban, bic: settings.bic || "", amount, reference });
    }
    return out;
  }
  throw new PriceError("payments[0].method", `unknown method ${method}`);
}
