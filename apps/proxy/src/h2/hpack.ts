// HPACK (RFC 7541) for the frame-level forwarder: a stateful decoder per connection direction and a
// context-free encoder whose output is valid on any connection (it never indexes).
// Header names and values are latin1 strings so bytes survive unchanged (string length = byte count).

export class HpackError extends Error {}

// RFC 7541 Appendix A. Index 0 is unused so wire indices map directly.
const STATIC: readonly (readonly [string, string])[] = [
  ["", ""],
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
const STATIC_LEN = STATIC.length - 1; // 61
const STATIC_NAMES = STATIC.map((e) => e[0]);
const STATIC_VALUES = STATIC.map((e) => e[1]);

// Encoder lookups: first (lowest) index per name, and exact name+value matches. Entries with an
// empty value are indexable exactly too (e.g. "accept-charset: ").
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_EXACT = new Map<string, Map<string, number>>();
for (let i = 1; i <= STATIC_LEN; i++) {
  const [name, value] = STATIC[i]!;
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i);
  let byValue = STATIC_EXACT.get(name);
  if (!byValue) STATIC_EXACT.set(name, (byValue = new Map()));
  if (!byValue.has(value)) byValue.set(value, i);
}

// ---------------------------------------------------------------------------------------------
// Huffman (RFC 7541 Appendix B). The code is canonical, so the bit lengths per symbol (0..255,
// 256 = EOS) fully determine it: codes are assigned in (length, symbol) order.
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
  6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24,
  24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21,
  21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
  21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26,
  27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];
const EOS = 256;

// Byte-at-a-time state machine over the 256 internal nodes of the code tree. Each entry packs
// next state (bits 0-7), up to two emitted symbols (8-15, 16-23), emit count (24-25) and a
// failure bit (26: EOS decoded). A code is >= 5 bits, so one input byte finishes at most two.
const H_FAIL = 1 << 26;
const { HUFF_TABLE, HUFF_ACCEPT } = (() => {
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  // children[node*2+bit]: >= 0 internal node, < 0 leaf ~symbol.
  const children = new Int32Array(512).fill(0x7fffffff);
  let nodes = 1;
  let code = 0;
  let prevLen = HUFFMAN_LENGTHS[order[0]!]!;
  for (const sym of order) {
    const len = HUFFMAN_LENGTHS[sym]!;
    code *= 2 ** (len - prevLen);
    prevLen = len;
    let node = 0;
    for (let b = len - 1; b > 0; b--) {
      const slot = node * 2 + (Math.floor(code / 2 ** b) & 1);
      if (children[slot] === 0x7fffffff) children[slot] = nodes++;
      node = children[slot]!;
    }
    children[node * 2 + (code & 1)] = ~sym;
    code++;
  }
  if (nodes !== 256) throw new Error("hpack: bad Huffman table");
  // A block may end in a node reached from a symbol boundary by at most 7 one-bits (§5.2).
  const accept = new Uint8Array(256);
  accept[0] = 1;
  for (let node = 0, depth = 0; depth < 7; depth++) {
    node = children[node * 2 + 1]!;
    accept[node] = 1;
  }
  const table = new Uint32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let entry = 0;
      let count = 0;
      for (let b = 7; b >= 0; b--) {
        const next = children[node * 2 + ((byte >> b) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = ~next;
        if (sym === EOS) {
          entry |= H_FAIL;
          break;
        }
        entry |= sym << (8 + 8 * count++);
        node = 0;
      }
      table[(state << 8) | byte] = (entry | node | (count << 24)) >>> 0;
    }
  }
  return { HUFF_TABLE: table, HUFF_ACCEPT: accept };
})();

// Undocumented but long-standing Buffer methods; measurably cheaper than
// toString("latin1", ...)/write(..., "latin1") for the short strings of a header block.
type Latin1Buffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
};

// Reused output buffer for Huffman decoding; rare big strings get their own so it stays small.
const huffScratch = Buffer.allocUnsafe(16384) as Latin1Buffer;

function huffmanDecode(src: Buffer, start: number, end: number): string {
  // Shortest code is 5 bits.
  const max = Math.ceil(((end - start) * 8) / 5);
  const out = max <= huffScratch.length ? huffScratch : (Buffer.allocUnsafe(max) as Latin1Buffer);
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const e = HUFF_TABLE[(state << 8) | src[i]!]!;
    if (e & H_FAIL) throw new HpackError("hpack: EOS symbol in Huffman string");
    const count = e >>> 24;
    if (count !== 0) {
      out[n++] = (e >>> 8) & 0xff;
      if (count === 2) out[n++] = (e >>> 16) & 0xff;
    }
    state = e & 0xff;
  }
  if (HUFF_ACCEPT[state] !== 1) throw new HpackError("hpack: invalid Huffman padding");
  return out.latin1Slice(0, n);
}

// ---------------------------------------------------------------------------------------------
// Decoder

const MAX_INT = 0x7fffffff;
const EMPTY = Buffer.alloc(0) as Latin1Buffer;

export class HpackDecoder {
  private readonly maxTableSize: number;
  private capacity: number;
  private size = 0;
  // Ring buffer of dynamic table entries; `head` is the slot the next insertion goes to.
  private names: string[] = new Array<string>(16).fill("");
  private values: string[] = new Array<string>(16).fill("");
  private mask = 15;
  private head = 0;
  private count = 0;
  // Cursor state shared by the parsing helpers during one decode() call.
  private buf: Latin1Buffer = EMPTY;
  private pos = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE we advertised (the ceiling for dynamic table size updates). */
  constructor(maxTableSize = 4096) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INT) {
      throw new RangeError(`hpack: bad table size ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block into raw latin1 pairs [name0, value0, ...] in wire order.
   * Throws HpackError on malformed input; the decoder (and so the connection) is then unusable,
   * except for the maxListBytes case: the whole block is still processed so the dynamic table
   * stays in sync, and only then the error is thrown.
   */
  decode(block: Buffer, maxListBytes = 1 << 20): string[] {
    this.buf = block as Latin1Buffer;
    this.pos = 0;
    const end = block.length;
    const out: string[] = [];
    let listBytes = 0;
    let sawField = false;
    try {
      while (this.pos < end) {
        const b = block[this.pos]!;
        let name: string;
        let value: string;
        if (b & 0x80) {
          // Indexed field (§6.1).
          let index = b & 0x7f;
          if (index === 0x7f) index = this.readInt(7);
          else this.pos++;
          if (index === 0) throw new HpackError("hpack: index 0");
          if (index <= STATIC_LEN) {
            name = STATIC_NAMES[index]!;
            value = STATIC_VALUES[index]!;
          } else {
            const slot = this.slot(index);
            name = this.names[slot]!;
            value = this.values[slot]!;
          }
        } else if (b & 0x40) {
          // Literal with incremental indexing (§6.2.1).
          let index = b & 0x3f;
          if (index === 0x3f) index = this.readInt(6);
          else this.pos++;
          name = index === 0 ? this.readString() : this.nameAt(index);
          value = this.readString();
          this.insert(name, value);
        } else if (b & 0x20) {
          // Dynamic table size update (§6.3): only before the first field of a block.
          if (sawField) throw new HpackError("hpack: table size update after a header field");
          const newSize = this.readInt(5);
          if (newSize > this.maxTableSize) {
            throw new HpackError(`hpack: table size update ${newSize} above the advertised ${this.maxTableSize}`);
          }
          this.capacity = newSize;
          this.evictTo(newSize);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
          let index = b & 0x0f;
          if (index === 0x0f) index = this.readInt(4);
          else this.pos++;
          name = index === 0 ? this.readString() : this.nameAt(index);
          value = this.readString();
        }
        sawField = true;
        listBytes += name.length + value.length + 32;
        if (listBytes <= maxListBytes) out.push(name, value);
      }
    } finally {
      this.buf = EMPTY;
    }
    if (listBytes > maxListBytes) throw new HpackError(`hpack: header list exceeds ${maxListBytes} bytes`);
    return out;
  }

  // §5.1. Called with pos at the prefix byte.
  private readInt(prefixBits: number): number {
    const buf = this.buf;
    const max = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new HpackError("hpack: truncated integer");
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) throw new HpackError("hpack: integer overflow");
      if ((b & 0x80) === 0) return value;
      shift += 7;
      // Only zero-valued continuation bytes can get here; cap them.
      if (shift > 28) throw new HpackError("hpack: integer overflow");
    }
  }

  // §5.2.
  private readString(): string {
    const buf = this.buf;
    if (this.pos >= buf.length) throw new HpackError("hpack: truncated string");
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const len = this.readInt(7);
    const start = this.pos;
    const end = start + len;
    if (end > buf.length) throw new HpackError("hpack: truncated string");
    this.pos = end;
    return huffman ? huffmanDecode(buf, start, end) : buf.latin1Slice(start, end);
  }

  private nameAt(index: number): string {
    return index <= STATIC_LEN ? STATIC_NAMES[index]! : this.names[this.slot(index)]!;
  }

  private slot(index: number): number {
    const i = index - STATIC_LEN - 1;
    if (i >= this.count) throw new HpackError(`hpack: index ${index} past the table`);
    return (this.head - 1 - i) & this.mask;
  }

  // §4.4: an entry larger than the table empties it and is not added.
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    if (entrySize > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  private evictTo(target: number): void {
    while (this.size > target) {
      const oldest = (this.head - this.count) & this.mask;
      this.size -= this.names[oldest]!.length + this.values[oldest]!.length + 32;
      this.names[oldest] = "";
      this.values[oldest] = "";
      this.count--;
    }
  }

  private grow(): void {
    const cap = this.names.length * 2;
    const names = new Array<string>(cap).fill("");
    const values = new Array<string>(cap).fill("");
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + i) & this.mask;
      names[i] = this.names[from]!;
      values[i] = this.values[from]!;
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
    this.head = this.count;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

function intLen(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let n = 2;
  for (value -= max; value >= 0x80; value = Math.floor(value / 128)) n++;
  return n;
}

function writeInt(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  for (value -= max; value >= 0x80; value = Math.floor(value / 128)) out[pos++] = (value % 128) | 0x80;
  out[pos++] = value;
  return pos;
}

// A JS loop beats the native call for the short strings typical of headers.
function writeLatin1(out: Latin1Buffer, pos: number, s: string): number {
  const len = s.length;
  if (len > 64) return pos + out.latin1Write(s, pos, len);
  for (let i = 0; i < len; i++) out[pos + i] = s.charCodeAt(i);
  return pos + len;
}

/**
 * Context-free encoding of raw latin1 pairs: exact static matches as indexed fields, everything
 * else as "literal without indexing" (static name index when available), no Huffman. Never touches
 * a dynamic table, so the output is valid on any connection. Characters above 0xff are not
 * representable and must not be passed.
 */
export function encodeHeaders(pairs: readonly string[]): Buffer {
  const n = pairs.length;
  if (n % 2 !== 0) throw new HpackError("hpack: odd number of name/value strings");
  // Two passes: size, then write into one exact allocation. codes[i/2]: >0 indexed, <0 ~nameIndex literal, 0 literal name.
  const codes = new Int32Array(n >> 1);
  let size = 0;
  for (let i = 0; i < n; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    const exact = STATIC_EXACT.get(name);
    if (exact !== undefined) {
      const index = exact.get(value);
      if (index !== undefined) {
        codes[i >> 1] = index;
        size += 1;
        continue;
      }
      const nameIndex = STATIC_NAME_INDEX.get(name)!;
      codes[i >> 1] = ~nameIndex;
      size += intLen(nameIndex, 4);
    } else {
      size += 1 + intLen(name.length, 7) + name.length;
    }
    size += intLen(value.length, 7) + value.length;
  }
  const out = Buffer.allocUnsafe(size) as Latin1Buffer;
  let pos = 0;
  for (let i = 0; i < n; i += 2) {
    const code = codes[i >> 1]!;
    if (code > 0) {
      out[pos++] = 0x80 | code;
      continue;
    }
    if (code < 0) {
      pos = writeInt(out, pos, ~code, 4, 0);
    } else {
      const name = pairs[i]!;
      out[pos++] = 0;
      pos = writeInt(out, pos, name.length, 7, 0);
      pos = writeLatin1(out, pos, name);
    }
    const value = pairs[i + 1]!;
    pos = writeInt(out, pos, value.length, 7, 0);
    pos = writeLatin1(out, pos, value);
  }
  return out;
}
