import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { describe, test } from "node:test";
import { encodeHeaderBlock, HpackDecoder, HpackEncoder, HpackError } from "../../../src/api/h2/hpack.ts";
import { rawFrame } from "./raw-frames.ts";

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

function flat(fields: readonly (readonly [string, string])[]): string[] {
  return fields.flat();
}

/**
 * Asserts the dynamic table holds exactly `entries`, newest first. Indexed
 * representations never change the table, so probing leaves it as it was.
 */
function assertDynamicTable(decoder: HpackDecoder, entries: readonly (readonly [string, string])[]): void {
  const probe = Buffer.from(entries.map((_, i) => 0x80 | (62 + i)));
  assert.deepEqual(decoder.decode(probe), flat(entries));
  assert.throws(() => decoder.decode(Buffer.from([0x80 | (62 + entries.length)])), HpackError);
}

/** Decodes `blocks` in order on one decoder, checking each block's fields and the table it leaves. */
function decodeInSequence(
  decoder: HpackDecoder,
  blocks: readonly Buffer[],
  fields: readonly string[][],
  tables: readonly (readonly (readonly [string, string])[])[],
): void {
  blocks.forEach((block, i) => {
    assert.deepEqual(decoder.decode(block), fields[i]);
    assertDynamicTable(decoder, tables[i]);
  });
}

describe("HPACK decoder on RFC 7541 Appendix C examples", () => {
  test("C.2.1 literal with indexing adds the field to the dynamic table", () => {
    const decoder = new HpackDecoder();
    const block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert.deepEqual(decoder.decode(block), ["custom-key", "custom-header"]);
    assertDynamicTable(decoder, [["custom-key", "custom-header"]]);
  });

  test("C.2.2 literal without indexing leaves the dynamic table empty", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex("040c 2f73 616d 706c 652f 7061 7468")), [":path", "/sample/path"]);
    assertDynamicTable(decoder, []);
  });

  test("C.2.3 never-indexed literal leaves the dynamic table empty", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [
      "password",
      "secret",
    ]);
    assertDynamicTable(decoder, []);
  });

  test("C.2.4 indexed field reads the static table", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex("82")), [":method", "GET"]);
    assertDynamicTable(decoder, []);
  });

  const requests = [
    [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
    [
      ":method",
      "GET",
      ":scheme",
      "http",
      ":path",
      "/",
      ":authority",
      "www.example.com",
      "cache-control",
      "no-cache",
    ],
    [
      ":method",
      "GET",
      ":scheme",
      "https",
      ":path",
      "/index.html",
      ":authority",
      "www.example.com",
      "custom-key",
      "custom-value",
    ],
  ];
  const requestTables: (readonly [string, string])[][] = [
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

  test("C.3 three requests without Huffman share one dynamic table", () => {
    const decoder = new HpackDecoder();
    const blocks = [
      hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
      hex("8286 84be 5808 6e6f 2d63 6163 6865"),
      hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
    ];
    decodeInSequence(decoder, blocks, requests, requestTables);
  });

  test("C.4 three requests with Huffman share one dynamic table", () => {
    const decoder = new HpackDecoder();
    const blocks = [
      hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
      hex("8286 84be 5886 a8eb 1064 9cbf"),
      hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    ];
    decodeInSequence(decoder, blocks, requests, requestTables);
  });

  const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const location = "https://www.example.com";
  const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  const responses = [
    [":status", "302", "cache-control", "private", "date", date1, "location", location],
    [":status", "307", "cache-control", "private", "date", date1, "location", location],
    [
      ":status",
      "200",
      "cache-control",
      "private",
      "date",
      date2,
      "location",
      location,
      "content-encoding",
      "gzip",
      "set-cookie",
      cookie,
    ],
  ];
  // With a 256-byte table, each response evicts what the next one no longer fits.
  const responseTables: (readonly [string, string])[][] = [
    [
      ["location", location],
      ["date", date1],
      ["cache-control", "private"],
      [":status", "302"],
    ],
    [
      [":status", "307"],
      ["location", location],
      ["date", date1],
      ["cache-control", "private"],
    ],
    [
      ["set-cookie", cookie],
      ["content-encoding", "gzip"],
      ["date", date2],
    ],
  ];

  test("C.5 three responses without Huffman evict from a 256-byte table", () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    const blocks = [
      hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
           2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
           6c65 2e63 6f6d`),
      hex("4803 3330 37c1 c0bf"),
      hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
           54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
           5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
           3d31`),
    ];
    decodeInSequence(decoder, blocks, responses, responseTables);
  });

  test("C.6 three responses with Huffman evict from a 256-byte table", () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    const blocks = [
      hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
           2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`),
      hex("4883 640e ffc1 c0bf"),
      hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
           77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
           9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
    ];
    decodeInSequence(decoder, blocks, responses, responseTables);
  });
});

describe("HPACK decoder dynamic table", () => {
  test("size update at the start of a block shrinks the table and evicts, and a later one restores it", () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert.deepEqual(decoder.decode(hex("20 82")), [":method", "GET"]);
    assertDynamicTable(decoder, []);
    assert.deepEqual(decoder.decode(hex("3fe11f 4001 61 0162")), ["a", "b"]);
    assertDynamicTable(decoder, [["a", "b"]]);
  });

  test("an entry larger than the table empties it and is not added", () => {
    const decoder = new HpackDecoder({ maxTableSize: 64 });
    decoder.decode(Buffer.from([0x40, 1, 0x61, 1, 0x62]));
    const big = Buffer.concat([Buffer.from([0x40, 1, 0x63, 40]), Buffer.alloc(40, 0x78)]);
    assert.deepEqual(decoder.decode(big), ["c", "x".repeat(40)]);
    assertDynamicTable(decoder, []);
  });

  test("ring buffer keeps indices right across growth, wrap-around and eviction", () => {
    const decoder = new HpackDecoder({ maxTableSize: 3000 });
    const model: [string, string][] = [];
    let modelBytes = 0;
    let seed = 7;
    for (let i = 0; i < 400; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const name = `k${i}`;
      const value = "v".repeat(seed % 60);
      const block = Buffer.concat([
        Buffer.from([0x40, name.length]),
        Buffer.from(name, "latin1"),
        Buffer.from([value.length]),
        Buffer.from(value, "latin1"),
      ]);
      assert.deepEqual(decoder.decode(block), [name, value]);
      model.unshift([name, value]);
      modelBytes += name.length + value.length + 32;
      while (modelBytes > 3000) {
        const [n, v] = model.pop()!;
        modelBytes -= n.length + v.length + 32;
      }
      if (i % 37 === 0 || i === 399) assertDynamicTable(decoder, model);
    }
  });

  test("literal fields may take their name from a dynamic entry", () => {
    const decoder = new HpackDecoder();
    decoder.decode(Buffer.from([0x40, 1, 0x61, 1, 0x62]));
    // 0x0f 0x2f: literal without indexing, name index 15 + 47 = 62.
    assert.deepEqual(decoder.decode(Buffer.from([0x0f, 0x2f, 1, 0x63])), ["a", "c"]);
  });
});

describe("HPACK decoder strings", () => {
  test("a Huffman string of 80000 octets decodes, and short ones still do after it", () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 1 << 20 });
    // Eight 'e' (code 00101) fill exactly five octets.
    const eights = 10_000;
    const fiveOctets = hex("29 4a 52 94 a5");
    const length = 5 * eights;
    const block = Buffer.concat([
      hex("00 01 78"),
      // 7-bit prefix all ones, then (length - 127) in base 128, least significant first.
      Buffer.from([
        0xff,
        0x80 | ((length - 127) % 128),
        0x80 | (((length - 127) >> 7) % 128),
        (length - 127) >> 14,
      ]),
      ...Array.from({ length: eights }, () => fiveOctets),
    ]);
    assert.deepEqual(decoder.decode(block), ["x", "e".repeat(8 * eights)]);
    assert.deepEqual(decoder.decode(hex("00 81 1f 00")), ["a", ""]);
  });
});

describe("HPACK decoder refuses malformed blocks", () => {
  const cases: [string, string, HpackDecoder?][] = [
    ["indexed field with index 0", "80"],
    ["index beyond the static and dynamic tables", "be"],
    ["index far beyond the tables", "ff ff 7f"],
    ["integer truncated before its continuation", "ff"],
    ["integer truncated inside its continuation", "ff 80"],
    ["integer with more than five continuation octets", "ff 80 80 80 80 80 01"],
    ["integer above 2^31", "ff ff ff ff ff 0f"],
    ["literal name index beyond the tables", "0f 2f 01 61"],
    ["literal missing its value", "40 01 61"],
    ["string longer than the block", "40 05 61 62"],
    ["Huffman padding longer than 7 bits", "00 82 1f ff 00"],
    ["Huffman string of 8 padding bits alone", "00 81 ff 00"],
    ["Huffman padding that is not all ones", "00 81 18 00"],
    ["EOS symbol inside a Huffman string", "00 84 ff ff ff ff 00"],
    ["table size update above the announced maximum", "3f e2 1f"],
    ["table size update after a header field", "82 20"],
    ["table size update after a field, even at size 0", "82 3f e1 1f"],
    ["header list larger than maxHeaderListBytes", "82 82 82", new HpackDecoder({ maxHeaderListBytes: 100 })],
  ];
  for (const [what, block, decoder] of cases) {
    test(`${what} throws HpackError`, () => {
      assert.throws(() => (decoder ?? new HpackDecoder()).decode(hex(block)), HpackError);
    });
  }

  test("the valid neighbours of the refused cases decode", () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 100 });
    assert.deepEqual(decoder.decode(hex("00 81 1f 00")), ["a", ""]);
    assert.deepEqual(decoder.decode(hex("3f e1 1f 82 82")), [":method", "GET", ":method", "GET"]);
    assert.deepEqual(decoder.decode(hex("")), []);
  });
});

describe("HPACK encoder", () => {
  const fields: [string, string][] = [
    [":status", "200"],
    [":status", "201"],
    ["content-type", "application/grpc"],
    ["user-agent", "floe"],
    ["grpc-status", "0"],
    ["x-custom", "v".repeat(300)],
    ["x-latin1", "caf\u00e9 \u00ff"],
    ["x-empty", ""],
    [":authority", ""],
  ];

  test("blocks round-trip through the decoder and leave its dynamic table empty", () => {
    const decoder = new HpackDecoder();
    const block = new HpackEncoder().encode(fields);
    assert.deepEqual(decoder.decode(block), flat(fields));
    assert.deepEqual(decoder.decode(new Uint8Array(block)), flat(fields));
    assertDynamicTable(decoder, []);
    assert.deepEqual(encodeHeaderBlock(fields), block);
  });

  test("a static full match is one indexed octet and a static name is a 4-bit-prefix index", () => {
    assert.deepEqual(encodeHeaderBlock([[":status", "200"]]), hex("88"));
    assert.deepEqual(encodeHeaderBlock([[":authority", ""]]), hex("81"));
    assert.deepEqual(encodeHeaderBlock([[":status", "201"]]), hex("08 03 323031"));
    // user-agent is static index 58 = 15 + 43.
    assert.deepEqual(encodeHeaderBlock([["user-agent", "x"]]), hex("0f 2b 01 78"));
    assert.deepEqual(encodeHeaderBlock([["x-a", "b"]]), hex("00 03 782d61 01 62"));
  });

  test("fields that a latin1 octet cannot carry, or uppercase names, are refused", () => {
    assert.throws(() => encodeHeaderBlock([["x-a", "\u0100"]]), RangeError);
    assert.throws(() => encodeHeaderBlock([["X-A", "b"]]), RangeError);
  });
});

// ---- Interop with Node's HTTP/2 (nghttp2) over raw TCP ----

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Serves raw HTTP/2: expects the client preface, answers SETTINGS, hands every other frame to onFrame. */
async function rawH2Server(
  onFrame: (socket: net.Socket, frame: Frame) => void,
  onError: (e: unknown) => void,
): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.write(rawFrame(SETTINGS, 0, 0));
    let pending = Buffer.alloc(0);
    let sawPreface = false;
    socket.on("data", (chunk: Buffer) => {
      try {
        pending = Buffer.concat([pending, chunk]);
        if (!sawPreface) {
          if (pending.length < PREFACE.length) return;
          assert.deepEqual(pending.subarray(0, PREFACE.length), PREFACE);
          pending = pending.subarray(PREFACE.length);
          sawPreface = true;
        }
        while (pending.length >= 9) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 9 + length) break;
          const frame: Frame = {
            type: pending[3],
            flags: pending[4],
            streamId: pending.readUInt32BE(5) & 0x7fffffff,
            payload: pending.subarray(9, 9 + length),
          };
          pending = pending.subarray(9 + length);
          if (frame.type === SETTINGS && (frame.flags & ACK) === 0) socket.write(rawFrame(SETTINGS, ACK, 0));
          else onFrame(socket, frame);
        }
      } catch (e) {
        onError(e);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function headerBlockFragment(frame: Frame): Buffer {
  let start = 0;
  let end = frame.payload.length;
  if (frame.flags & PADDED) {
    start = 1;
    end -= frame.payload[0];
  }
  if (frame.flags & PRIORITY) start += 5;
  return frame.payload.subarray(start, end);
}

type RequestHeaders = http2.OutgoingHttpHeaders & { [http2.sensitiveHeaders]?: string[] };

/** The header list Node sends for `headers`: pseudo-headers first, arrays as repeated fields. */
function expectedFields(headers: RequestHeaders): string[] {
  const pseudo: string[] = [];
  const regular: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const into = name.startsWith(":") ? pseudo : regular;
    for (const v of Array.isArray(value) ? value : [value]) into.push(name, String(v));
  }
  return [...pseudo, ...regular];
}

function requestSet(authority: string): RequestHeaders[] {
  const base = { ":scheme": "http", ":authority": authority };
  const grpc = {
    ...base,
    ":method": "POST",
    "content-type": "application/grpc",
    te: "trailers",
    "user-agent": "grpc-node-js/1.9.0 (a user agent long enough to be worth indexing)",
  };
  // Octets with long Huffman codes, diluted with 'e' (a 5-bit code) so that
  // nghttp2 still finds Huffman shorter: every octet 0x80-0xff, and the control
  // octets (but NUL, which Node's header list cannot carry).
  const diluted = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => "eeeeeeeeee" + String.fromCharCode(from + i)).join("");
  const highOctets = diluted(0x80, 0x100);
  const controlOctets = diluted(0x01, 0x20) + diluted(0x7f, 0x80);
  const requests: RequestHeaders[] = [];
  for (let i = 0; i < 8; i++) {
    requests.push({ ...grpc, ":path": i % 2 ? "/etcdserverpb.KV/Range" : "/etcdserverpb.KV/Put" });
  }
  requests.push(
    { ...grpc, ":path": "/etcdserverpb.KV/Range", "grpc-timeout": "4999m", "x-request-id": "r-0001" },
    { ...grpc, ":path": "/etcdserverpb.KV/Range", "grpc-timeout": "4998m", "x-request-id": "r-0002" },
    { ...base, ":method": "GET", ":path": "/", accept: "*/*", "x-long": "L".repeat(1000) },
    { ...base, ":method": "GET", ":path": "/", accept: "*/*", "x-long": "L".repeat(1000) },
    { ...base, ":method": "GET", ":path": "/huge", "x-huge": "0123456789".repeat(2500) },
    {
      ...grpc,
      ":path": "/etcdserverpb.Auth/Authenticate",
      authorization: "Bearer s3cr3t-token-value",
      "x-secret": "hunter2",
      [http2.sensitiveHeaders]: ["authorization", "x-secret"],
    },
    { ...base, ":method": "GET", ":path": "/control", "x-control": controlOctets },
    {
      ...base,
      ":method": "GET",
      ":path": "/latin1",
      "x-latin1": "caf\u00e9 na\u00efve \u00ff\u00a0",
      "x-empty": "",
    },
    {
      ...base,
      ":method": "GET",
      ":path": "/high",
      "x-high-a": highOctets.slice(0, 704),
      "x-high-b": highOctets.slice(704),
    },
    {
      ...base,
      ":method": "PUT",
      ":path": "/multi",
      "x-multi": ["one", "two", "three"],
      "grpc-trace-bin": "AAECAwQFBgc=",
    },
    {
      ...base,
      ":method": "DELETE",
      ":path": "/v3/kv/deleterange?x=1&y=%20",
      "accept-encoding": "gzip, deflate",
    },
    { ...grpc, ":path": "/etcdserverpb.Watch/Watch", "grpc-accept-encoding": "identity,deflate,gzip" },
    { ...grpc, ":path": "/etcdserverpb.KV/Range" },
  );
  return requests;
}

async function captureRequestBlocks(
  requests: RequestHeaders[],
  options: http2.ClientSessionOptions = {},
  requestOptions: http2.ClientSessionRequestOptions = {},
): Promise<{
  decoded: Map<number, string[]>;
  ids: number[];
  errors: unknown[];
  headersFlags: number;
  continuations: number;
}> {
  const decoded = new Map<number, string[]>();
  let headersFlags = 0;
  let continuations = 0;
  const errors: unknown[] = [];
  let allDecoded: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allDecoded = resolve;
  });
  const decoders = new WeakMap<net.Socket, { decoder: HpackDecoder; parts: Buffer[]; streamId: number }>();
  const server = await rawH2Server(
    (socket, frame) => {
      let conn = decoders.get(socket);
      if (conn === undefined) {
        conn = { decoder: new HpackDecoder(), parts: [], streamId: 0 };
        decoders.set(socket, conn);
      }
      if (frame.type === HEADERS) {
        conn.streamId = frame.streamId;
        headersFlags |= frame.flags;
        conn.parts = [headerBlockFragment(frame)];
      } else if (frame.type === CONTINUATION) {
        assert.equal(frame.streamId, conn.streamId);
        conn.parts.push(frame.payload);
        continuations++;
      } else {
        return;
      }
      if (frame.flags & END_HEADERS) {
        decoded.set(conn.streamId, conn.decoder.decode(Buffer.concat(conn.parts)));
        if (decoded.size === requests.length) allDecoded();
      }
    },
    (e) => {
      errors.push(e);
      allDecoded();
    },
  );
  const session = http2.connect(`http://127.0.0.1:${server.port}`, options);
  session.on("error", () => {});
  const ids = requests.map(() => 0);
  requests.forEach((headers, i) => {
    const req = session.request(headers, { ...requestOptions, endStream: true });
    req.on("error", () => {});
    req.on("ready", () => {
      ids[i] = req.id!;
    });
  });
  try {
    await done;
  } finally {
    session.destroy();
    server.close();
  }
  return { decoded, ids, errors, headersFlags, continuations };
}

describe("HPACK decoder interop with Node's HTTP/2 client", () => {
  test("decodes every request of one session, with Huffman, indexing, never-indexed and CONTINUATION", {
    timeout: 10_000,
  }, async () => {
    const requests = requestSet("127.0.0.1:1");
    const { decoded, ids, errors, continuations } = await captureRequestBlocks(requests);
    assert.deepEqual(errors, []);
    assert.ok(continuations > 0, "the huge header block spans CONTINUATION frames");
    assert.equal(decoded.size, requests.length);
    requests.forEach((headers, i) => {
      assert.deepEqual(decoded.get(ids[i]), expectedFields(headers), `request ${i}`);
    });
  });

  test("decodes padded HEADERS frames with priority", { timeout: 10_000 }, async () => {
    const requests = requestSet("localhost:2").slice(0, 6);
    const { decoded, ids, errors, headersFlags } = await captureRequestBlocks(
      requests,
      { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX },
      { weight: 32, exclusive: true },
    );
    assert.deepEqual(errors, []);
    assert.equal(headersFlags & (PADDED | PRIORITY), PADDED | PRIORITY);
    requests.forEach((headers, i) => {
      assert.deepEqual(decoded.get(ids[i]), expectedFields(headers), `request ${i}`);
    });
  });
});

describe("HPACK encoder interop with Node's HTTP/2 client", () => {
  test("Node's client reads a response whose header block came from HpackEncoder", {
    timeout: 10_000,
  }, async () => {
    const custom = "x".repeat(150) + "y".repeat(150);
    const block = encodeHeaderBlock([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["x-custom", custom],
      ["grpc-status", "0"],
    ]);
    const errors: unknown[] = [];
    const server = await rawH2Server(
      (socket, frame) => {
        if (frame.type === HEADERS)
          socket.write(rawFrame(HEADERS, END_STREAM | END_HEADERS, frame.streamId, block));
      },
      (e) => errors.push(e),
    );
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => {});
    try {
      const req = session.request({ ":path": "/" }, { endStream: true });
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        req.on("response", resolve);
        req.on("error", reject);
      });
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "application/grpc");
      assert.equal(headers["x-custom"], custom);
      assert.equal(headers["grpc-status"], "0");
      assert.deepEqual(errors, []);
    } finally {
      session.destroy();
      server.close();
    }
  });
});
