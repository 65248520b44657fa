// HPACK codec: RFC 7541 Appendix C vectors, malformed input, encoder round trips, and interop with
// node:http2 (nghttp2) in both directions over loopback.
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { describe, it, expect } from "vitest";
import { HpackDecoder, HpackError, encodeHeaders } from "../src/h2/hpack.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// §5.1 integer with a 7-bit prefix under an indexed-field marker, to probe the table.
function indexed(index: number): Buffer {
  if (index < 127) return Buffer.from([0x80 | index]);
  const out = [0xff];
  for (let v = index - 127; ; v >>= 7) {
    if (v < 128) {
      out.push(v);
      break;
    }
    out.push((v & 0x7f) | 0x80);
  }
  return Buffer.from(out);
}

// The dynamic table, newest first, read through indexed fields (which never modify it), plus its
// size per §4.1. Stops at the first index the decoder rejects.
function dynamicTable(d: HpackDecoder): { entries: [string, string][]; size: number } {
  const entries: [string, string][] = [];
  for (let i = 62; ; i++) {
    let pair: string[];
    try {
      pair = d.decode(indexed(i));
    } catch (e) {
      expect(e).toBeInstanceOf(HpackError);
      break;
    }
    entries.push([pair[0]!, pair[1]!]);
  }
  return { entries, size: entries.reduce((n, [a, b]) => n + a.length + b.length + 32, 0) };
}

const flat = (pairs: [string, string][]) => pairs.flat();

type Step = { block: string; pairs: [string, string][]; table: [string, string][]; size: number };

function runSeries(maxTableSize: number, steps: Step[]) {
  const d = new HpackDecoder(maxTableSize);
  for (const step of steps) {
    expect(d.decode(hex(step.block))).toEqual(flat(step.pairs));
    expect(dynamicTable(d)).toEqual({ entries: step.table, size: step.size });
  }
}

describe("RFC 7541 Appendix C", () => {
  it("C.2.1 literal with indexing", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))).toEqual(["custom-key", "custom-header"]);
    expect(dynamicTable(d)).toEqual({ entries: [["custom-key", "custom-header"]], size: 55 });
  });

  it("C.2.2 literal without indexing", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("040c 2f73 616d 706c 652f 7061 7468"))).toEqual([":path", "/sample/path"]);
    expect(dynamicTable(d)).toEqual({ entries: [], size: 0 });
  });

  it("C.2.3 literal never indexed", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))).toEqual(["password", "secret"]);
    expect(dynamicTable(d)).toEqual({ entries: [], size: 0 });
  });

  it("C.2.4 indexed field", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("82"))).toEqual([":method", "GET"]);
    expect(dynamicTable(d)).toEqual({ entries: [], size: 0 });
  });

  const req1: [string, string][] = [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ];
  const req2: [string, string][] = [...req1, ["cache-control", "no-cache"]];
  const req3: [string, string][] = [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ];
  const reqTables: [string, string][][] = [
    [[":authority", "www.example.com"]],
    [
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ],
    [
      ["custom-key", "custom-value"],
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ],
  ];

  it("C.3 requests without Huffman", () => {
    runSeries(4096, [
      { block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", pairs: req1, table: reqTables[0]!, size: 57 },
      { block: "8286 84be 5808 6e6f 2d63 6163 6865", pairs: req2, table: reqTables[1]!, size: 110 },
      {
        block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        pairs: req3,
        table: reqTables[2]!,
        size: 164,
      },
    ]);
  });

  it("C.4 requests with Huffman", () => {
    runSeries(4096, [
      { block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", pairs: req1, table: reqTables[0]!, size: 57 },
      { block: "8286 84be 5886 a8eb 1064 9cbf", pairs: req2, table: reqTables[1]!, size: 110 },
      { block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", pairs: req3, table: reqTables[2]!, size: 164 },
    ]);
  });

  const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  const loc = "https://www.example.com";
  const res1: [string, string][] = [
    [":status", "302"],
    ["cache-control", "private"],
    ["date", date1],
    ["location", loc],
  ];
  const res2: [string, string][] = [[":status", "307"], ...res1.slice(1)];
  const res3: [string, string][] = [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", date2],
    ["location", loc],
    ["content-encoding", "gzip"],
    ["set-cookie", cookie],
  ];
  const resTables: [string, string][][] = [
    [
      ["location", loc],
      ["date", date1],
      ["cache-control", "private"],
      [":status", "302"],
    ],
    [
      [":status", "307"],
      ["location", loc],
      ["date", date1],
      ["cache-control", "private"],
    ],
    [
      ["set-cookie", cookie],
      ["content-encoding", "gzip"],
      ["date", date2],
    ],
  ];

  it("C.5 responses without Huffman, 256-byte table with evictions", () => {
    runSeries(256, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
        pairs: res1,
        table: resTables[0]!,
        size: 222,
      },
      { block: "4803 3330 37c1 c0bf", pairs: res2, table: resTables[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
        pairs: res3,
        table: resTables[2]!,
        size: 215,
      },
    ]);
  });

  it("C.6 responses with Huffman, 256-byte table with evictions", () => {
    runSeries(256, [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        pairs: res1,
        table: resTables[0]!,
        size: 222,
      },
      { block: "4883 640e ffc1 c0bf", pairs: res2, table: resTables[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        pairs: res3,
        table: resTables[2]!,
        size: 215,
      },
    ]);
  });
});

describe("table management", () => {
  it("a size update evicts, and later inserts respect the new size", () => {
    const d = new HpackDecoder();
    d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")); // 55 bytes
    expect(d.decode(Buffer.concat([hex("3f 11"), hex("82")]))).toEqual([":method", "GET"]); // size update to 48
    expect(dynamicTable(d).entries).toEqual([]);
    // "a: b" is 34 bytes and fits; "custom-key: custom-header" (55) no longer does and empties the table.
    d.decode(hex("4001 6101 62"));
    expect(dynamicTable(d).entries).toEqual([["a", "b"]]);
    d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    expect(dynamicTable(d)).toEqual({ entries: [], size: 0 });
  });

  it("keeps indexing right across many inserts and evictions (ring buffer growth and wrap)", () => {
    const d = new HpackDecoder(4096);
    const lit = (name: string, value: string) =>
      Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name, "latin1"), Buffer.from([value.length]), Buffer.from(value, "latin1")]);
    const inserted: [string, string][] = [];
    for (let i = 0; i < 500; i++) {
      const pair: [string, string] = [`k${i}`, `v${i}`.padEnd(i % 60, "x")];
      d.decode(lit(...pair));
      inserted.unshift(pair);
    }
    const { entries, size } = dynamicTable(d);
    expect(size).toBeLessThanOrEqual(4096);
    expect(entries).toEqual(inserted.slice(0, entries.length));
    // The next older entry would not have fit.
    const next = inserted[entries.length]!;
    expect(size + next[0].length + next[1].length + 32).toBeGreaterThan(4096);
  });

  it("multi-byte index into a large dynamic table", () => {
    const d = new HpackDecoder(65536);
    for (let i = 0; i < 200; i++) d.decode(Buffer.concat([hex("4001"), Buffer.from("n"), Buffer.from([String(i).length]), Buffer.from(String(i))]));
    expect(d.decode(indexed(62 + 199))).toEqual(["n", "0"]);
    expect(d.decode(indexed(62 + 130))).toEqual(["n", "69"]);
  });
});

describe("malformed input throws HpackError", () => {
  const cases: [string, string, number?][] = [
    ["index 0", "80"],
    ["literal name missing", "00"],
    ["index past the static table with an empty dynamic table", "be"],
    ["name index past the table", "7f 00 01 61"],
    ["index past the dynamic table", "4001 6101 62 bf"],
    ["truncated integer", "ff"],
    ["truncated multi-byte integer", "ff 80 80"],
    ["integer overflow", "ff ff ff ff ff 0f"],
    ["over-long integer encoding", "ff 80 80 80 80 80 00"],
    ["truncated string length", "40"],
    ["truncated string body", "400a 6375 7374"],
    ["truncated value", "4001 61"],
    ["Huffman padding of 8 bits", "4001 6181 ff"],
    ["Huffman padding not all ones", "4001 6181 00"], // '0' (00000) + '000' padding
    ["Huffman padding spanning a partial symbol", "0001 6187 52bc 30ff ffff ff"],
    ["EOS in Huffman data", "0001 6185 ffff ffff fc"],
    ["size update above the advertised max", "3fe2 1f"], // 4097
    ["size update after a field", "82 20"],
    ["size update above a small advertised max", "3f 12", 48], // 49 > 48
  ];
  for (const [name, block, max] of cases) {
    it(name, () => {
      const d = new HpackDecoder(max);
      expect(() => d.decode(hex(block))).toThrow(HpackError);
    });
  }

  it("maxListBytes: throws after the block, with the dynamic table kept in sync", () => {
    const d = new HpackDecoder();
    const block = encodeHeaders(["x-big", "v".repeat(100)]);
    expect(() => d.decode(block, 100)).toThrow(HpackError);
    expect(d.decode(block, 5 + 100 + 32)).toEqual(["x-big", "v".repeat(100)]);
    // An indexed insert beyond the limit still lands in the table.
    expect(() => d.decode(hex("4001 6101 62 82"), 10)).toThrow(HpackError);
    expect(d.decode(hex("be"))).toEqual(["a", "b"]);
  });

  it("accepts size updates at the start (two in a row) up to the max", () => {
    const d = new HpackDecoder(4096);
    expect(d.decode(hex("20 3fe1 1f 82"))).toEqual([":method", "GET"]);
  });
});

describe("encodeHeaders round trips", () => {
  const roundTrip = (pairs: string[]) => {
    const block = encodeHeaders(pairs);
    expect(new HpackDecoder().decode(block)).toEqual(pairs);
    // Context-free: a decoder with a disabled dynamic table reads it too, and nothing was indexed.
    const d0 = new HpackDecoder(0);
    expect(d0.decode(block)).toEqual(pairs);
    return block;
  };

  it("uses indexed fields for exact static matches", () => {
    expect(roundTrip([":method", "POST", ":scheme", "http", ":status", "200"])).toEqual(Buffer.from([0x83, 0x86, 0x88]));
    expect(roundTrip([":authority", "", "accept-encoding", "gzip, deflate"])).toEqual(Buffer.from([0x81, 0x90]));
  });

  it("uses static name indexes, multi-byte when >= 15", () => {
    // :path (4) -> 0x04; content-type (31) -> 0x0f 0x10; www-authenticate (61) -> 0x0f 0x2e.
    expect(roundTrip([":path", "/a"])).toEqual(hex("04 02 2f61"));
    expect(roundTrip(["content-type", "x"])).toEqual(hex("0f10 01 78"));
    expect(roundTrip(["www-authenticate", "Basic"])).toEqual(hex("0f2e 05 4261 7369 63"));
  });

  it("literal names, repeated names, empty values", () => {
    const block = roundTrip(["x-a", "1", "x-a", "2", "x-empty", "", "", "", "te", "trailers", "te", "trailers"]);
    expect(block[0]).toBe(0x00);
  });

  it("a typical gRPC request", () => {
    roundTrip([
      ":method", "POST",
      ":scheme", "http",
      ":path", "/satellites.v1.Service/Method",
      ":authority", "sat.example:443",
      "content-type", "application/grpc",
      "te", "trailers",
      "grpc-timeout", "1S",
      "user-agent", "grpc-node-js/1.14.7",
      "grpc-accept-encoding", "identity,deflate,gzip",
      "authorization", "Bearer sat_abc",
    ]); // prettier-ignore
  });

  it("binary latin1 values (0x00-0xff)", () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
    roundTrip(["x-bin", all, "x-high", "\x80\xff\xe9\xa0", "\xe9name", "v"]);
  });

  it("long values with multi-byte lengths (> 127, > 16383, > 2^21)", () => {
    for (const len of [126, 127, 128, 255, 16383, 16384, 70000, (1 << 21) + 5]) {
      const v = "ab".repeat(len).slice(0, len);
      const block = encodeHeaders(["x-long", v]);
      expect(new HpackDecoder().decode(block, 1 << 23)).toEqual(["x-long", v]);
    }
    const name = "n".repeat(200);
    roundTrip([name, "v".repeat(20000), ":path", "/".repeat(300)]);
  });

  it("decodes long Huffman strings (beyond the reused scratch buffer)", () => {
    // '0' is the 5-bit code 00000, so 5 zero bytes are 8 '0's. indexed() doubles as an H=1 length prefix.
    const huff = (chars: number) => Buffer.concat([indexed((chars / 8) * 5), Buffer.alloc((chars / 8) * 5)]);
    const d = new HpackDecoder();
    expect(d.decode(Buffer.concat([hex("04"), huff(40000)]))).toEqual([":path", "0".repeat(40000)]);
    expect(d.decode(Buffer.concat([hex("04"), huff(16)]))).toEqual([":path", "0".repeat(16)]);
  });

  it("rejects an odd number of strings", () => {
    expect(() => encodeHeaders(["a"])).toThrow(HpackError);
  });
});

// --- interop with node:http2 -------------------------------------------------------------------

type Frame = { type: number; flags: number; stream: number; payload: Buffer };

function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  for (let p = 0; p + 9 <= bytes.length; ) {
    const len = bytes.readUIntBE(p, 3);
    if (p + 9 + len > bytes.length) break;
    frames.push({
      type: bytes[p + 3]!,
      flags: bytes[p + 4]!,
      stream: bytes.readUInt32BE(p + 5) & 0x7fffffff,
      payload: bytes.subarray(p + 9, p + 9 + len),
    });
    p += 9 + len;
  }
  return frames;
}

// HEADERS (+ CONTINUATION) header blocks in order, with padding and priority removed.
function headerBlocks(frames: Frame[]): { stream: number; block: Buffer }[] {
  const out: { stream: number; block: Buffer }[] = [];
  let pending: { stream: number; parts: Buffer[] } | undefined;
  for (const f of frames) {
    if (f.type === 1) {
      let p = f.payload;
      let pad = 0;
      if (f.flags & 0x8) {
        pad = p[0]!;
        p = p.subarray(1);
      }
      if (f.flags & 0x20) p = p.subarray(5);
      p = p.subarray(0, p.length - pad);
      pending = { stream: f.stream, parts: [p] };
    } else if (f.type === 9) {
      pending!.parts.push(f.payload);
    } else continue;
    if (f.flags & 0x4) {
      out.push({ stream: pending!.stream, block: Buffer.concat(pending!.parts) });
      pending = undefined;
    }
  }
  return out;
}

const listen = (server: net.Server | http2.Http2Server) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));

describe("interop with node:http2", () => {
  it("decodes the header blocks nghttp2 sends (dynamic table + Huffman) for 3 requests", { timeout: 10_000 }, async () => {
    const server = http2.createServer();
    server.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end();
    });
    const serverPort = await listen(server);

    const captured: Buffer[] = [];
    const sockets: net.Socket[] = [];
    const relay = net.createServer((down) => {
      const up = net.connect(serverPort, "127.0.0.1");
      sockets.push(down, up);
      down.on("data", (d: Buffer) => {
        captured.push(d);
        up.write(d);
      });
      up.pipe(down);
      down.on("error", () => up.destroy());
      up.on("error", () => down.destroy());
    });
    const relayPort = await listen(relay);

    const client = http2.connect(`http://127.0.0.1:${relayPort}`);
    const long = "0123456789abcdefghij".repeat(15); // 300 bytes
    const requests = [0, 1, 2].map((i) => ({
      ":method": "POST",
      ":path": `/satellites.v1.Echo/Call${i}`,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${100 + i}m`,
      "x-multi": ["first", `second-${i}`],
      "x-long": long,
      "x-request-id": `req-${i}-abcdef`,
    }));
    try {
      for (const headers of requests) {
        await new Promise<void>((resolve, reject) => {
          const req = client.request(headers);
          req.on("error", reject);
          req.resume();
          req.on("end", resolve);
          req.end();
        });
      }
    } finally {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }

    const bytes = Buffer.concat(captured);
    expect(bytes.subarray(0, 24).toString("latin1")).toBe("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const blocks = headerBlocks(parseFrames(bytes.subarray(24)));
    expect(blocks.map((b) => b.stream)).toEqual([1, 3, 5]);

    const decoder = new HpackDecoder();
    blocks.forEach(({ block }, i) => {
      const pairs = decoder.decode(block);
      const names = pairs.filter((_, j) => j % 2 === 0);
      // Pseudo-headers come first; node fills in :scheme and :authority.
      const pseudo = new Map<string, string>();
      let k = 0;
      for (; k < pairs.length && pairs[k]!.startsWith(":"); k += 2) pseudo.set(pairs[k]!, pairs[k + 1]!);
      expect(Object.fromEntries(pseudo)).toEqual({
        ":method": "POST",
        ":path": `/satellites.v1.Echo/Call${i}`,
        ":scheme": "http",
        ":authority": `127.0.0.1:${relayPort}`,
      });
      expect(pairs.slice(k)).toEqual([
        "content-type", "application/grpc",
        "te", "trailers",
        "grpc-timeout", `${100 + i}m`,
        "x-multi", "first",
        "x-multi", `second-${i}`,
        "x-long", long,
        "x-request-id", `req-${i}-abcdef`,
      ]); // prettier-ignore
      expect(names.filter((n) => n === "x-multi")).toHaveLength(2);
    });
    // Huffman: the first block (no dynamic references possible) beats a plain literal encoding;
    // dynamic table: later blocks are far smaller than the first (the 300-byte value is referenced).
    const plain = encodeHeaders(decodePairsFresh(blocks[0]!.block));
    expect(blocks[0]!.block.length).toBeLessThan(plain.length - 30);
    expect(blocks[1]!.block.length).toBeLessThan(blocks[0]!.block.length / 4);
    expect(blocks[2]!.block.length).toBeLessThan(blocks[0]!.block.length / 4);
  });

  it("a node:http2 server accepts a block made by encodeHeaders", { timeout: 10_000 }, async () => {
    const server = http2.createServer();
    const seen = new Promise<{ headers: http2.IncomingHttpHeaders; raw: readonly string[] }>((resolve) => {
      // rawHeaders (4th argument) is missing from @types/node but passed by Node 20.
      server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
        resolve({ headers, raw });
        stream.respond({ ":status": 204 });
        stream.end();
      });
    });
    const port = await listen(server);
    const sent = [
      ":method", "POST",
      ":scheme", "http",
      ":path", "/satellites.v1.Echo/Call",
      ":authority", "sat.example",
      "content-type", "application/grpc",
      "te", "trailers",
      "x-multi", "a",
      "x-multi", "b",
      "x-empty", "",
      "x-bin", "caf\xe9 \x80\xff",
      "x-long", "L".repeat(20000),
    ]; // prettier-ignore
    const block = encodeHeaders(sent);
    const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    // Default max frame size is 16384: split into HEADERS + CONTINUATION.
    const first = block.subarray(0, 16384);
    const rest = block.subarray(16384);
    const sock = net.connect(port, "127.0.0.1");
    sock.on("error", () => undefined);
    sock.resume();
    try {
      sock.write(
        Buffer.concat([
          Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
          frame(4, 0, 0, Buffer.alloc(0)),
          frame(1, 0x1 | (rest.length === 0 ? 0x4 : 0), 1, first),
          ...(rest.length > 0 ? [frame(9, 0x4, 1, rest)] : []),
        ]),
      );
      const { headers, raw } = await seen;
      expect(raw).toEqual(sent);
      expect(headers[":path"]).toBe("/satellites.v1.Echo/Call");
      expect(headers["x-bin"]).toBe("caf\xe9 \x80\xff");
      expect(headers["x-long"]).toBe("L".repeat(20000));
    } finally {
      sock.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

function decodePairsFresh(block: Buffer): string[] {
  return new HpackDecoder().decode(block);
}
