// qr.js: microhub's own QR Code encoder, written from ISO/IEC 18004 (QR Code 2005/2015).
//
// What it implements:
//   * byte mode only: the text is encoded as UTF-8 (no ECI header), one segment;
//   * error-correction levels L, M, Q, H and versions 1-40 (auto: the smallest that fits);
//   * Reed-Solomon error correction over GF(256) with the primitive polynomial 0x11D and the
//     generator polynomial (x - a^0)(x - a^1)...(x - a^(n-1));
//   * the split into blocks and their interleaving per the standard's block table (Table 9);
//   * the function patterns: finder patterns with separators, timing patterns, alignment
//     patterns, the dark module, format information (BCH(15,5), XOR mask 0x5412, both copies)
//     and version information (BCH(18,6), both copies) from version 7;
//   * the zig-zag placement of the codeword bits (remainder bits are light before masking);
//   * the eight data masks and the four penalty rules (N1 = 3, N2 = 3, N3 = 40, N4 = 10); the
//     mask with the lowest penalty wins, ties going to the lower mask number. Where the standard
//     leaves room, this follows segno (so both choose the same mask): masks are scored before
//     the format and version information and the dark module are drawn (they are light then),
//     modules outside the symbol count as light for rule 3, and a 1:1:3:1:1 pattern scores 40
//     once, with the search going on after it.
// Not implemented (the point of sale does not need them): numeric, alphanumeric and kanji
// modes, ECI, structured append, Micro QR.
//
// Exports: qrMatrix(text, { ecc, version, mask }) -> { size, version, mask, modules } with
// modules[row][col] === true for a dark module, and renderSVG(text, { ecc, border, pixelSize }).
// tests/e2e/hub/test_qr_encoder.py checks the output module for module against segno.

const LEVELS = ["L", "M", "Q", "H"];
const FORMAT_LEVEL_BITS = { L: 0b01, M: 0b00, Q: 0b11, H: 0b10 };

// Table 9: error-correction codewords per block and number of blocks, [level][version - 1].
const ECC_PER_BLOCK = [
  [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
    28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
    26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
  [13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
    28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  [17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
    30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
];
const BLOCK_COUNT = [
  [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
    8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
    17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  [1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
    23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
  [1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
    25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
];

// ---- GF(256) and Reed-Solomon ---------------------------------------------------------------

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = EXP[i + 255] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= 0x11d;
}
const mul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);

const generators = new Map();
/** The generator polynomial of the given degree, highest power first (leading 1 included). */
function generator(degree) {
  if (!generators.has(degree)) {
    let g = [1];
    for (let i = 0; i < degree; i++) {  // multiply by (x + a^i); minus is plus in GF(2^8)
      const next = new Array(g.length + 1).fill(0);
      g.forEach((c, j) => { next[j] ^= c; next[j + 1] ^= mul(c, EXP[i]); });
      g = next;
    }
    generators.set(degree, g);
  }
  return generators.get(degree);
}

/** The remainder of data(x) * x^degree divided by the generator: the ECC codewords. */
function reedSolomon(data, degree) {
  const g = generator(degree);
  const rem = new Array(degree).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    for (let j = 0; j < degree; j++) rem[j] ^= mul(g[j + 1], factor);
  }
  return rem;
}

// ---- capacity ---------------------------------------------------------------------------------

/** Modules left for data and ECC bits once every function pattern has been drawn. */
function dataModules(version) {
  const size = 4 * version + 17;
  // finders with separators (3 x 64), format info and the dark module (31), timing (2 lines)
  let n = size * size - 3 * 64 - 31 - 2 * (size - 16);
  if (version >= 2) {
    const a = Math.floor(version / 7) + 2;  // alignment centres per axis
    // a * a - 3 patterns of 25 modules; the 2 * (a - 2) on a timing line share 5 with it
    n -= 25 * (a * a - 3) - 5 * 2 * (a - 2);
  }
  if (version >= 7) n -= 2 * 18;  // version information
  return n;
}
const totalCodewords = (version) => Math.floor(dataModules(version) / 8);
const eccLayout = (version, ecc) => {
  const level = LEVELS.indexOf(ecc);
  return { perBlock: ECC_PER_BLOCK[level][version - 1], blocks: BLOCK_COUNT[level][version - 1] };
};
const dataCodewords = (version, ecc) => {
  const { perBlock, blocks } = eccLayout(version, ecc);
  return totalCodewords(version) - perBlock * blocks;
};
const countBits = (version) => (version <= 9 ? 8 : 16);  // byte mode character count indicator
const fits = (bytes, version, ecc) => 4 + countBits(version) + 8 * bytes <= 8 * dataCodewords(version, ecc);

// ---- codewords --------------------------------------------------------------------------------

/** Mode indicator, count, data, terminator, padding to a byte, then 0xEC 0x11 pad codewords. */
function dataCodewordsFor(bytes, version, ecc) {
  const capacity = dataCodewords(version, ecc);
  const bits = [];
  const put = (value, length) => { for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
  put(0b0100, 4);
  put(bytes.length, countBits(version));
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, 8 * capacity - bits.length));
  put(0, (8 - (bits.length % 8)) % 8);
  const words = [];
  for (let i = 0; i < bits.length; i += 8) words.push(bits.slice(i, i + 8).reduce((acc, bit) => (acc << 1) | bit, 0));
  for (let pad = 0xec; words.length < capacity; pad ^= 0xec ^ 0x11) words.push(pad);
  return words;
}

/** Split into blocks (short blocks first), add each block's ECC, interleave. */
function finalCodewords(data, version, ecc) {
  const { perBlock, blocks } = eccLayout(version, ecc);
  const total = totalCodewords(version);
  const shortData = Math.floor(total / blocks) - perBlock;
  const shortCount = blocks - (total % blocks);
  const split = [];
  for (let b = 0, at = 0; b < blocks; b++) {
    const part = data.slice(at, at += shortData + (b < shortCount ? 0 : 1));
    split.push({ part, ecc: reedSolomon(part, perBlock) });
  }
  const out = [];
  for (let i = 0; i <= shortData; i++) for (const { part } of split) if (i < part.length) out.push(part[i]);
  for (let i = 0; i < perBlock; i++) for (const block of split) out.push(block.ecc[i]);
  return out;
}

// ---- the symbol -------------------------------------------------------------------------------

/** Alignment pattern centres on one axis: 6, then evenly spaced (even steps) up to size - 7. */
function alignmentCentres(version) {
  if (version === 1) return [];
  const count = Math.floor(version / 7) + 2;
  const last = 4 * version + 10;
  // the step is the even number at or above the average gap; version 32 is the standard's
  // one exception (26 where that rule gives 28)
  const step = version === 32 ? 26 : 2 * Math.ceil((last - 6) / (2 * (count - 1)));
  const centres = [6];
  for (let i = count - 2; i >= 0; i--) centres.push(last - i * step);
  return centres;
}

/** BCH code: data followed by the remainder of data * x^(degree of poly) modulo poly. */
function bch(data, poly) {
  const degree = 31 - Math.clz32(poly);
  let rem = data << degree;
  for (let bit = 31 - Math.clz32(rem); bit >= degree; bit--) if (rem & (1 << bit)) rem ^= poly << (bit - degree);
  return (data << degree) | rem;
}

class QrSymbol {
  constructor(version) {
    this.version = version;
    this.size = 4 * version + 17;
    this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    this.fixed = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    this.drawFunctionPatterns();
  }

  set(row, col, dark) {
    this.dark[row][col] = dark;
    this.fixed[row][col] = true;
  }

  drawFunctionPatterns() {
    const { size, version } = this;
    for (let i = 8; i < size - 8; i++) {  // timing patterns
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [r0, c0] of [[0, 0], [0, size - 7], [size - 7, 0]]) {  // finders + separators
      for (let dr = -1; dr <= 7; dr++) {
        for (let dc = -1; dc <= 7; dc++) {
          const r = r0 + dr, c = c0 + dc;
          if (r < 0 || c < 0 || r >= size || c >= size) continue;
          const ring = Math.max(Math.abs(dr - 3), Math.abs(dc - 3));
          this.set(r, c, ring !== 2 && ring !== 4);
        }
      }
    }
    const centres = alignmentCentres(version);
    const last = centres.length - 1;
    centres.forEach((r, i) => centres.forEach((c, j) => {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;  // finders
      for (let dr = -2; dr <= 2; dr++) {
        for (let dc = -2; dc <= 2; dc++) this.set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
      }
    }));
    // reserved, light until the mask is chosen: format and version information, dark module
    drawInformation((r, c) => this.set(r, c, false), size, version, 0, "M");
  }

  /** Zig-zag: two-column strips from the right, alternately upwards and downwards. */
  placeCodewords(codewords) {
    const { size } = this;
    const total = codewords.length * 8;
    let n = 0, upward = true;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;  // the vertical timing pattern takes a whole column
      for (let step = 0; step < size; step++) {
        const row = upward ? size - 1 - step : step;
        for (const col of [right, right - 1]) {
          if (this.fixed[row][col]) continue;
          this.dark[row][col] = n < total && ((codewords[n >>> 3] >>> (7 - (n & 7))) & 1) === 1;
          n++;
        }
      }
      upward = !upward;
    }
  }

  /** The modules with the mask applied to every non-function module. */
  masked(mask) {
    const rule = MASKS[mask];
    return this.dark.map((row, r) => row.map((v, c) => (!this.fixed[r][c] && rule(r, c) ? !v : v)));
  }
}

/**
 * Calls set(row, col, dark) for the format information (level and mask, BCH(15,5) code, XOR
 * 0x5412; two copies), the dark module and, from version 7, the version information (BCH(18,6)
 * code; two copies).
 */
function drawInformation(set, size, version, mask, ecc) {
  const format = bch((FORMAT_LEVEL_BITS[ecc] << 3) | mask, 0x537) ^ 0x5412;
  const bit = (bits, i) => ((bits >>> i) & 1) === 1;
  for (let i = 0; i < 15; i++) {
    // first copy, around the top-left finder: down column 8 (skipping the timing row), then
    // leftwards along row 8 (skipping the timing column)
    if (i < 6) set(i, 8, bit(format, i));
    else if (i < 8) set(i + 1, 8, bit(format, i));
    else if (i === 8) set(8, 7, bit(format, i));
    else set(8, 14 - i, bit(format, i));
    // second copy: bits 0-7 along row 8 from the right edge, bits 8-14 down column 8
    if (i < 8) set(8, size - 1 - i, bit(format, i));
    else set(size - 15 + i, 8, bit(format, i));
  }
  set(size - 8, 8, true);  // the dark module
  if (version < 7) return;
  const info = bch(version, 0x1f25);
  for (let i = 0; i < 18; i++) {
    const a = Math.floor(i / 3), b = size - 11 + (i % 3);
    set(a, b, bit(info, i));  // top right, left of the finder
    set(b, a, bit(info, i));  // bottom left, above the finder
  }
}

// Table 10: a module is inverted when its condition holds (i = row, j = column).
const MASKS = [
  (i, j) => (i + j) % 2 === 0,
  (i) => i % 2 === 0,
  (i, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i + j) % 2) + ((i * j) % 3)) % 2 === 0,
];

// ---- penalty (section 7.8.3) --------------------------------------------------------------------

const FINDER_LIKE = [true, false, true, true, true, false, true];  // 1:1:3:1:1

/** Rules 1 and 3 for one row or column. */
function linePenalty(line) {
  let score = 0, run = 1;
  for (let i = 1; i <= line.length; i++) {  // rule 1: 3 + (n - 5) per run of n >= 5
    if (i < line.length && line[i] === line[i - 1]) run++;
    else { if (run >= 5) score += run - 2; run = 1; }
  }
  const light = (from, to) => {  // modules [from, to) are all light
    for (let i = Math.max(from, 0); i < Math.min(to, line.length); i++) if (line[i]) return false;
    return true;
  };
  // rule 3: a 1:1:3:1:1 pattern with 4 light modules before or after it (outside the symbol
  // counts as light) scores once; the search resumes after a pattern that scored
  for (let i = 0; i + 7 <= line.length; i++) {
    if (!FINDER_LIKE.every((dark, k) => line[i + k] === dark)) continue;
    if (light(i - 4, i) || light(i + 7, i + 11)) { score += 40; i += 6; }
  }
  return score;
}

function penalty(dark) {
  const size = dark.length;
  let score = 0, darkCount = 0;
  for (let a = 0; a < size; a++) {
    score += linePenalty(dark[a]);
    score += linePenalty(dark.map((row) => row[a]));
  }
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (dark[r][c]) darkCount++;
      // rule 2: every 2 x 2 block of one colour (overlapping blocks each count)
      if (r + 1 < size && c + 1 < size) {
        const v = dark[r][c];
        if (dark[r][c + 1] === v && dark[r + 1][c] === v && dark[r + 1][c + 1] === v) score += 3;
      }
    }
  }
  // rule 4: 10 points per full 5% step away from 50% dark modules
  const total = size * size;
  score += 10 * Math.floor(Math.abs(20 * darkCount - 10 * total) / total);
  return score;
}

// ---- public API -------------------------------------------------------------------------------

/** The QR Code for `text` (byte mode, UTF-8) as rows of booleans, true = dark. */
export function qrMatrix(text, { ecc = "M", version = null, mask = null } = {}) {
  if (!LEVELS.includes(ecc)) throw new Error(`qr.js: error correction level must be L, M, Q or H, not ${ecc}`);
  const bytes = new TextEncoder().encode(String(text));
  if (version === null) {
    version = 1;
    while (version <= 40 && !fits(bytes.length, version, ecc)) version++;
    if (version > 40) {
      const max = Math.floor((8 * dataCodewords(40, ecc) - 4 - 16) / 8);
      throw new Error(`qr.js: the text is ${bytes.length} bytes; a QR Code (version 40, level ${ecc}) holds at most ${max}`);
    }
  } else if (!Number.isInteger(version) || version < 1 || version > 40) {
    throw new Error(`qr.js: version must be an integer from 1 to 40, not ${version}`);
  } else if (!fits(bytes.length, version, ecc)) {
    throw new Error(`qr.js: the text is ${bytes.length} bytes, too long for version ${version} at level ${ecc}`);
  }
  if (mask !== null && !(Number.isInteger(mask) && mask >= 0 && mask <= 7)) {
    throw new Error(`qr.js: mask must be an integer from 0 to 7, not ${mask}`);
  }
  const symbol = new QrSymbol(version);
  symbol.placeCodewords(finalCodewords(dataCodewordsFor(bytes, version, ecc), version, ecc));
  // The masks are scored before the format and version information is drawn (it records the
  // mask; ISO/IEC 18004 7.1 steps 6 and 7): those areas and the dark module are light here.
  let best = null;
  for (const m of mask === null ? [0, 1, 2, 3, 4, 5, 6, 7] : [mask]) {
    const dark = symbol.masked(m);
    const score = mask === null ? penalty(dark) : 0;
    if (best === null || score < best.score) best = { mask: m, score, dark };
  }
  drawInformation((r, c, v) => { best.dark[r][c] = v; }, symbol.size, version, best.mask, ecc);
  return { size: symbol.size, version, mask: best.mask, modules: best.dark };
}

/** The QR Code as an SVG string: a white background and one path of dark modules. */
export function renderSVG(text, { ecc = "M", border = 2, pixelSize = 4 } = {}) {
  const { size, modules } = qrMatrix(text, { ecc });
  const n = size + 2 * border;
  let d = "";
  modules.forEach((row, r) => {
    for (let c = 0; c < size; c++) {
      if (!row[c]) continue;
      const start = c;
      while (c + 1 < size && row[c + 1]) c++;
      d += `M${start + border} ${r + border}h${c - start + 1}v1h-${c - start + 1}z`;
    }
  });
  const px = n * pixelSize;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${px}" height="${px}" viewBox="0 0 ${n} ${n}" shape-rendering="crispEdges">`
    + `<rect width="${n}" height="${n}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`;
}
