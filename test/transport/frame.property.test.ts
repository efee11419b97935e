// Properties of the peer frame decoder under any split of its input: the
// frames of a valid stream come out the same however TCP cuts it, and a
// damaged or over-large stream ends in a FrameError (never an exception, never
// a made-up frame), at the first bad frame.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { encodeFrame, FrameDecoder, FrameError, FrameType } from "../../src/transport/index.ts";

const LIMIT = 4096;
const types = [FrameType.Hello, FrameType.Message, FrameType.SnapshotChunk, FrameType.SnapshotAck];
const frameArb = fc.record({
  type: fc.constantFrom(...types),
  payload: fc.uint8Array({ maxLength: 600 }),
});

/** Cuts `wire` at the given fractions of its length (sorted, deduplicated). */
function split(wire: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * wire.length)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const a of [...at, wire.length]) {
    if (a <= from) continue;
    parts.push(wire.subarray(from, a));
    from = a;
  }
  return parts;
}

/** Feeds every part; returns the frames decoded and the error that stopped it, if any. */
function decodeAll(
  parts: Buffer[],
  limit = LIMIT,
): { frames: { type: number; payload: Buffer }[]; error?: FrameError } {
  const d = new FrameDecoder(limit);
  const frames: { type: number; payload: Buffer }[] = [];
  for (const p of parts) {
    const out = d.push(p);
    if (out instanceof FrameError) return { frames, error: out };
    for (const f of out) frames.push({ type: f.type, payload: Buffer.from(f.payload) });
  }
  return { frames };
}

test("a valid stream decodes to the same frames under every split", () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 12 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true })),
      (fs, cuts) => {
        const wire = Buffer.concat(fs.map((f) => encodeFrame(f.type, f.payload)));
        const { frames, error } = decodeAll(split(wire, cuts));
        assert.equal(error, undefined);
        assert.deepEqual(
          frames,
          fs.map((f) => ({ type: f.type, payload: Buffer.from(f.payload) })),
        );
      },
    ),
    { numRuns: 400 },
  );
});

test("a flipped byte ends the stream in a FrameError at or before the damaged frame, under every split", () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 8 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true })),
      (fs, where, flip, cuts) => {
        const encoded = fs.map((f) => encodeFrame(f.type, f.payload));
        const wire = Buffer.concat(encoded);
        const at = where % wire.length;
        wire[at] = (wire[at] as number) ^ flip;
        // the frame the damaged byte belongs to
        let damaged = 0;
        for (let end = 0; damaged < encoded.length; damaged++) {
          end += (encoded[damaged] as Buffer).length;
          if (at < end) break;
        }
        const { frames, error } = decodeAll(split(wire, cuts));
        // frames before the damaged one come out intact; nothing after it does
        assert.ok(frames.length <= damaged, `${frames.length} frames decoded, damage in frame ${damaged}`);
        for (let i = 0; i < frames.length; i++) {
          assert.deepEqual(frames[i]?.payload, Buffer.from(fs[i]?.payload ?? []));
        }
        // a damaged length can also announce a frame longer than what follows: then the stream just ends short
        if (error === undefined) assert.ok(frames.length < fs.length);
      },
    ),
    { numRuns: 400 },
  );
});

test("a length over the limit is refused from the header, before its payload arrives", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: LIMIT + 1, max: 2 ** 32 - 1 }),
      fc.integer({ min: 1, max: 9 }),
      (len, headerBytes) => {
        const header = Buffer.alloc(9);
        header.writeUInt32BE(len, 0);
        header[8] = FrameType.Message;
        const d = new FrameDecoder(LIMIT);
        const first = d.push(header.subarray(0, headerBytes));
        if (headerBytes < 9) assert.deepEqual(first, []);
        const out = headerBytes < 9 ? d.push(header.subarray(headerBytes)) : first;
        assert.ok(out instanceof FrameError && /over the 4096-byte limit/.test(out.message), String(out));
      },
    ),
    { numRuns: 300 },
  );
});
