// HTTP/2 frames written by hand for tests that speak the protocol byte by
// byte (kept apart from src/api/h2/frames.ts so the tests do not check the
// server with its own encoder).

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One frame: 24-bit length, type, flags, stream id, payload. */
export function rawFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}
