// HTTP/2 frame layout and registry values (RFC 9113 §4, §6, §7, §11).

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME_HEADER_BYTES = 9;

export enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

export enum Flag {
  /** END_STREAM on DATA and HEADERS; ACK on SETTINGS and PING (the same bit). */
  EndStream = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

/** The ACK flag of SETTINGS and PING. */
export const ACK = 0x1;

export enum Setting {
  HeaderTableSize = 0x1,
  EnablePush = 0x2,
  MaxConcurrentStreams = 0x3,
  InitialWindowSize = 0x4,
  MaxFrameSize = 0x5,
  MaxHeaderListSize = 0x6,
}

/** Error codes of RST_STREAM and GOAWAY. */
export enum H2Code {
  NoError = 0x0,
  ProtocolError = 0x1,
  InternalError = 0x2,
  FlowControlError = 0x3,
  StreamClosed = 0x5,
  FrameSizeError = 0x6,
  RefusedStream = 0x7,
  Cancel = 0x8,
  CompressionError = 0x9,
  EnhanceYourCalm = 0xb,
}

export const DEFAULT_WINDOW_BYTES = 65_535;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
export const MAX_FRAME_BYTES_LIMIT = 16_777_215;

/** One frame: header and payload in one buffer. */
export function frame(type: FrameType, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload !== undefined) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function writeFrameHeader(
  out: Buffer,
  at: number,
  length: number,
  type: FrameType,
  flags: number,
  streamId: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId, at + 5);
}

export function settingsFrame(values: readonly (readonly [Setting, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(6 * values.length);
  values.forEach(([id, v], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(FrameType.Settings, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.WindowUpdate, 0, streamId);
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return out;
}

export function rstStreamFrame(streamId: number, code: H2Code): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.RstStream, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return out;
}

export function goAwayFrame(lastStreamId: number, code: H2Code, debug: string): Buffer {
  const text = Buffer.from(debug.slice(0, 256), "utf8");
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GoAway, 0, 0, payload);
}

/** A protocol violation that ends the connection with GOAWAY and this code. */
export class H2ConnectionError extends Error {
  constructor(
    readonly code: H2Code,
    message: string,
  ) {
    super(message);
    this.name = "H2ConnectionError";
  }
}
