// HPACK header compression (RFC 7541) for the HTTP/2 server. The decoder owns
// one connection's dynamic table and refuses every malformed block with
// HpackError, which the connection turns into COMPRESSION_ERROR. The encoder is
// stateless: it never touches a dynamic table, so a block it produces is valid
// on any connection and can be precomputed once and sent many times.

/** A malformed header block (HTTP/2 COMPRESSION_ERROR: the connection must end). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

// RFC 7541 Appendix A.
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

// RFC 7541 Appendix B, symbols 0..255; EOS (256) is 30 one bits.
const HUFFMAN_CODES = new Uint32Array([
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea,
  0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef,
  0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7,
  0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa,
  0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18, 0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c,
  0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
  0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0,
  0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75, 0x28, 0x29,
  0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd,
  0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda,
  0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0,
  0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6,
  0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea,
  0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0,
  0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5,
  0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3,
  0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9,
  0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7,
  0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb,
  0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
]);

const HUFFMAN_CODE_BITS = new Uint8Array([
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
]);

const EOS = 256;
const EOS_CODE = 0x3fffffff;
const EOS_BITS = 30;

// Huffman decoding walks a state machine one octet at a time. A state is an
// internal node of the code tree (a full binary tree with 257 leaves has 256 of
// them, so a state fits a byte). No code is shorter than five bits, so an octet
// completes at most two symbols. Each transition packs the next state (bits
// 0-7), the completed symbols in order (bits 8-15, 16-23), how many there are
// (bits 24-25), and whether EOS was reached (bit 26); all stays below 2^30 so
// V8 keeps it a small integer. The table (256 KiB) is built on the first
// Huffman string rather than at import, which costs a few milliseconds that
// processes not serving HTTP/2 need not pay.
const SYMBOLS_SHIFT = 24;
const HIT_EOS = 1 << 26;
let huffmanStep: Uint32Array | undefined;
// States in which a string may end: the bits since the last symbol are a
// prefix of EOS (all ones) no longer than 7 bits (RFC 7541 5.2).
const HUFFMAN_ACCEPTS = new Uint8Array(256);

function buildHuffmanDecoder(): Uint32Array {
  const step = new Uint32Array(256 * 256);
  // children[2 * node + bit]: another internal node (>= 0) or ~symbol (< 0).
  const children = new Int32Array(512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = sym === EOS ? EOS_CODE : HUFFMAN_CODES[sym];
    const bits = sym === EOS ? EOS_BITS : HUFFMAN_CODE_BITS[sym];
    let node = 0;
    for (let i = bits - 1; i > 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (children[slot] === 0) children[slot] = nodes++;
      node = children[slot];
    }
    children[2 * node + (code & 1)] = ~sym;
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman table is not a full tree (${nodes} internal nodes)`);
  for (let depth = 0, node = 0; depth <= 7; depth++, node = children[2 * node + 1]) HUFFMAN_ACCEPTS[node] = 1;

  // Nibble transitions first (at most one symbol each: next state, symbol << 8,
  // 1 << 16 if a symbol completed, 1 << 17 on EOS), then octet transitions as
  // pairs of them, which is far cheaper than walking 65536 x 8 bits.
  const nibbleStep = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let out = 0;
      for (let i = 3; i >= 0; i--) {
        const next = children[2 * node + ((nibble >>> i) & 1)];
        if (next >= 0) {
          node = next;
          continue;
        }
        out |= ~next === EOS ? 1 << 17 : (1 << 16) | (~next << 8);
        node = 0;
      }
      nibbleStep[state * 16 + nibble] = out | node;
    }
  }
  for (let state = 0; state < 256; state++) {
    for (let high = 0; high < 16; high++) {
      const first = nibbleStep[state * 16 + high];
      const firstEmits = (first >>> 16) & 1;
      for (let low = 0; low < 16; low++) {
        const second = nibbleStep[(first & 0xff) * 16 + low];
        const secondEmits = (second >>> 16) & 1;
        const symbols = firstEmits ? (first & 0xff00) | ((second & 0xff00) << 8) : second & 0xff00;
        const eos = ((first | second) >>> 17) & 1;
        step[(state << 8) | (high << 4) | low] =
          (second & 0xff) | symbols | ((firstEmits + secondEmits) << SYMBOLS_SHIFT) | (eos * HIT_EOS);
      }
    }
  }
  return step;
}

type Latin1Buffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  latin1Write(text: string, offset: number, length: number): number;
};

// Huffman output is staged here; decoding is synchronous, so one buffer serves
// every decoder. An octet yields at most 8/5 symbols; the loop below writes two
// octets per step whatever it keeps, hence the slack. A rare huge string gets a
// buffer of its own rather than growing this one for good.
const HUFFMAN_SCRATCH_MAX_BYTES = 64 * 1024;
let huffmanScratch = Buffer.allocUnsafe(4096) as Latin1Buffer;

function huffmanDecode(src: Buffer, start: number, end: number): string {
  const need = Math.ceil(((end - start) * 8) / 5) + 2;
  let out = huffmanScratch;
  if (out.length < need) {
    out = Buffer.allocUnsafe(need) as Latin1Buffer;
    if (need <= HUFFMAN_SCRATCH_MAX_BYTES) huffmanScratch = out;
  }
  const step = huffmanStep ?? (huffmanStep = buildHuffmanDecoder());
  let state = 0;
  let flags = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const t = step[(state << 8) | src[i]];
    out[o] = t >>> 8;
    out[o + 1] = t >>> 16;
    o += (t >>> SYMBOLS_SHIFT) & 3;
    flags |= t;
    state = t & 0xff;
  }
  if ((flags & HIT_EOS) !== 0) throw new HpackError("Huffman string contains EOS");
  if (HUFFMAN_ACCEPTS[state] === 0) throw new HpackError("Huffman string has invalid padding");
  return out.latin1Slice(0, o);
}

const STATIC_ENTRIES = STATIC_TABLE.length;
const ENTRY_OVERHEAD_BYTES = 32;
// 2^31 - 1 bounds every length and index; five continuation octets carry 35 bits.
const MAX_INTEGER = 0x7fffffff;
const MAX_CONTINUATION_OCTETS = 5;

function asBuffer(block: Uint8Array): Latin1Buffer {
  return (
    Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength)
  ) as Latin1Buffer;
}

export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListBytes: number;
  /** The dynamic table's current limit (last size update), <= maxTableSize. */
  private tableLimitBytes: number;
  private tableBytes = 0;
  // Ring buffer of dynamic entries: the newest at head - 1, the oldest at head - count.
  private names: string[] = new Array<string>(16).fill("");
  private values: string[] = new Array<string>(16).fill("");
  private mask = 15;
  private head = 0;
  private count = 0;
  /** Read position inside the block being decoded. */
  private pos = 0;

  constructor(options?: { maxTableSize?: number; maxHeaderListBytes?: number }) {
    this.maxTableSize = options?.maxTableSize ?? 4096;
    this.maxHeaderListBytes = options?.maxHeaderListBytes ?? 65536;
    this.tableLimitBytes = this.maxTableSize;
  }

  decode(block: Uint8Array): string[] {
    const buf = asBuffer(block);
    const end = buf.length;
    const fields: string[] = [];
    let listBytes = 0;
    this.pos = 0;
    while (this.pos < end) {
      const first = buf[this.pos];
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // Indexed field (6.1).
        const index = this.readInteger(buf, 0x7f);
        if (index === 0) throw new HpackError("indexed field with index 0");
        if (index <= STATIC_ENTRIES) {
          const entry = STATIC_TABLE[index - 1];
          name = entry[0];
          value = entry[1];
        } else {
          const slot = this.dynamicSlot(index);
          name = this.names[slot];
          value = this.values[slot];
        }
      } else if (first >= 0x40) {
        // Literal with incremental indexing (6.2.1).
        name = this.literalName(buf, 0x3f);
        value = this.readString(buf);
        this.insert(name, value);
      } else if (first >= 0x20) {
        // Dynamic table size update (6.3): only before the block's first field (4.2).
        if (fields.length !== 0) throw new HpackError("dynamic table size update after a header field");
        const size = this.readInteger(buf, 0x1f);
        if (size > this.maxTableSize) {
          throw new HpackError(`dynamic table size update to ${size} exceeds the limit ${this.maxTableSize}`);
        }
        this.tableLimitBytes = size;
        while (this.tableBytes > size) this.evictOldest();
        continue;
      } else {
        // Literal without indexing (6.2.2) or never indexed (6.2.3).
        name = this.literalName(buf, 0x0f);
        value = this.readString(buf);
      }
      listBytes += name.length + value.length + ENTRY_OVERHEAD_BYTES;
      if (listBytes > this.maxHeaderListBytes) {
        throw new HpackError(`header list exceeds ${this.maxHeaderListBytes} bytes`);
      }
      fields.push(name, value);
    }
    return fields;
  }

  private readInteger(buf: Buffer, prefixMask: number): number {
    let pos = this.pos;
    let value = buf[pos++] & prefixMask;
    if (value === prefixMask) {
      let scale = 1;
      for (let n = 0; ; n++) {
        if (pos >= buf.length) throw new HpackError("truncated integer");
        if (n === MAX_CONTINUATION_OCTETS) throw new HpackError("integer encoding too long");
        const octet = buf[pos++];
        value += (octet & 0x7f) * scale;
        if (value > MAX_INTEGER) throw new HpackError("integer too large");
        if (octet < 0x80) break;
        scale *= 128;
      }
    }
    this.pos = pos;
    return value;
  }

  private readString(buf: Latin1Buffer): string {
    if (this.pos >= buf.length) throw new HpackError("truncated header block: string expected");
    const huffman = buf[this.pos] >= 0x80;
    const length = this.readInteger(buf, 0x7f);
    const start = this.pos;
    if (length > buf.length - start) throw new HpackError("string literal runs past the header block");
    this.pos = start + length;
    return huffman ? huffmanDecode(buf, start, start + length) : buf.latin1Slice(start, start + length);
  }

  private literalName(buf: Latin1Buffer, prefixMask: number): string {
    const index = this.readInteger(buf, prefixMask);
    if (index === 0) return this.readString(buf);
    if (index <= STATIC_ENTRIES) return STATIC_TABLE[index - 1][0];
    return this.names[this.dynamicSlot(index)];
  }

  private dynamicSlot(index: number): number {
    const age = index - STATIC_ENTRIES - 1;
    if (age >= this.count) throw new HpackError(`index ${index} is beyond the tables`);
    return (this.head - 1 - age) & this.mask;
  }

  private insert(name: string, value: string): void {
    const entryBytes = name.length + value.length + ENTRY_OVERHEAD_BYTES;
    // An entry larger than the table empties it and is not added (4.4).
    if (entryBytes > this.tableLimitBytes) {
      while (this.count > 0) this.evictOldest();
      return;
    }
    while (this.tableBytes + entryBytes > this.tableLimitBytes) this.evictOldest();
    if (this.count > this.mask) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.tableBytes += entryBytes;
  }

  private evictOldest(): void {
    const slot = (this.head - this.count) & this.mask;
    this.tableBytes -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD_BYTES;
    this.names[slot] = "";
    this.values[slot] = "";
    this.count--;
  }

  private grow(): void {
    const capacity = 2 * (this.mask + 1);
    const names = new Array<string>(capacity).fill("");
    const values = new Array<string>(capacity).fill("");
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - this.count + i) & this.mask;
      names[i] = this.names[slot];
      values[i] = this.values[slot];
    }
    this.names = names;
    this.values = values;
    this.mask = capacity - 1;
    this.head = this.count;
  }
}

// For the encoder: the static index of each full (name, value) entry, and of
// the first entry with each name.
const STATIC_FULL_INDEX = new Map<string, Map<string, number>>();
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  let byValue = STATIC_FULL_INDEX.get(name);
  if (byValue === undefined) {
    byValue = new Map();
    STATIC_FULL_INDEX.set(name, byValue);
    STATIC_NAME_INDEX.set(name, i + 1);
  }
  byValue.set(value, i + 1);
});

function integerBytes(value: number, prefixMax: number): number {
  if (value < prefixMax) return 1;
  let n = 2;
  for (let rest = value - prefixMax; rest >= 0x80; rest = Math.floor(rest / 128)) n++;
  return n;
}

function writeInteger(out: Buffer, at: number, value: number, prefixMax: number, pattern: number): number {
  if (value < prefixMax) {
    out[at++] = pattern | value;
    return at;
  }
  out[at++] = pattern | prefixMax;
  let rest = value - prefixMax;
  while (rest >= 0x80) {
    out[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}

// Below this length a JS loop beats the native latin1Write call.
const NATIVE_WRITE_MIN_CHARS = 48;

/** Copies `text` as latin1 octets, refusing what latin1 cannot carry (and uppercase, in names). */
function writeLatin1(out: Latin1Buffer, at: number, text: string, isName: boolean): number {
  const length = text.length;
  let i = 0;
  if (length >= NATIVE_WRITE_MIN_CHARS && !isName) {
    for (; i < length; i++) if (text.charCodeAt(i) > 0xff) break;
    if (i === length) return at + out.latin1Write(text, at, length);
  }
  for (i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff)
      throw new RangeError(`header ${isName ? "name" : "value"} ${JSON.stringify(text)} is not latin1`);
    if (isName && c >= 0x41 && c <= 0x5a)
      throw new RangeError(`header name ${JSON.stringify(text)} is not lowercase`);
    out[at + i] = c;
  }
  return at + length;
}

export class HpackEncoder {
  encode(fields: readonly (readonly [string, string])[]): Buffer {
    let total = 0;
    for (let f = 0; f < fields.length; f++) {
      const name = fields[f][0];
      const value = fields[f][1];
      const byValue = STATIC_FULL_INDEX.get(name);
      if (byValue?.get(value) !== undefined) {
        total += 1;
        continue;
      }
      total +=
        byValue !== undefined
          ? integerBytes(STATIC_NAME_INDEX.get(name)!, 0x0f)
          : 1 + integerBytes(name.length, 0x7f) + name.length;
      total += integerBytes(value.length, 0x7f) + value.length;
    }
    const out = Buffer.allocUnsafe(total) as Latin1Buffer;
    let at = 0;
    for (let f = 0; f < fields.length; f++) {
      const name = fields[f][0];
      const value = fields[f][1];
      const byValue = STATIC_FULL_INDEX.get(name);
      const full = byValue?.get(value);
      if (full !== undefined) {
        out[at++] = 0x80 | full;
        continue;
      }
      if (byValue !== undefined) {
        at = writeInteger(out, at, STATIC_NAME_INDEX.get(name)!, 0x0f, 0x00);
      } else {
        out[at++] = 0x00;
        at = writeInteger(out, at, name.length, 0x7f, 0x00);
        at = writeLatin1(out, at, name, true);
      }
      at = writeInteger(out, at, value.length, 0x7f, 0x00);
      at = writeLatin1(out, at, value, false);
    }
    return out;
  }
}

const sharedEncoder = new HpackEncoder();

/** Convenience: a precomputed block for fixed headers (e.g. the gRPC response headers). */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  return sharedEncoder.encode(fields);
}
