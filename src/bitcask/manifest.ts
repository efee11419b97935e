// The merge manifest: the commit point of a merge. Renaming MERGE.tmp to
// MERGE (then fsyncing the directory) is the moment the merge outputs replace
// its inputs. At open, a MERGE file means "finish this": rename the outputs
// to their final names, delete the inputs, delete MERGE. Without one, merge
// outputs (*.merge) and temp files (*.tmp) are leftovers and are deleted, and
// the inputs, never touched by a merge, stay authoritative.
//
// Layout (little-endian):
//    0 u32 crc32c of bytes [4, end)
//    4 8B  magic "FLOEBCMF"
//   12 u32 version (1)
//   16 u32 input count I
//   20 u32 output count O
//   24 I x u32 input file ids
//      O x (u32 output file id, u64 output data file size)

import path from "node:path";
import { crc32c } from "../common/index.ts";
import { BitcaskCorruptionError } from "./errors.ts";
import {
  dataName,
  fsyncDirSync,
  hintName,
  MANIFEST_NAME,
  MERGE_SUFFIX,
  parseName,
  TMP_SUFFIX,
  unlinkIfExists,
} from "./io.ts";
import type { ResolvedOptions } from "./options.ts";
import { readU32, readU64, writeU64 } from "./record.ts";

const MAGIC = Buffer.from("FLOEBCMF", "latin1");
const HEADER_BYTES = 24;
const OUTPUT_BYTES = 12;
/** More files than any store has; bounds what a damaged count can make us read. */
const MAX_FILES = 1_000_000;

export interface Manifest {
  inputs: number[];
  outputs: { id: number; bytes: number }[];
}

export function encodeManifest(m: Manifest): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES + m.inputs.length * 4 + m.outputs.length * OUTPUT_BYTES);
  MAGIC.copy(buf, 4);
  buf.writeUInt32LE(1, 12);
  buf.writeUInt32LE(m.inputs.length, 16);
  buf.writeUInt32LE(m.outputs.length, 20);
  let at = HEADER_BYTES;
  for (const id of m.inputs) {
    buf.writeUInt32LE(id, at);
    at += 4;
  }
  for (const o of m.outputs) {
    buf.writeUInt32LE(o.id, at);
    writeU64(buf, at + 4, o.bytes);
    at += OUTPUT_BYTES;
  }
  buf.writeUInt32LE(crc32c(buf.subarray(4)), 0);
  return buf;
}

/** Decode a manifest; returns what is wrong instead of throwing. */
export function decodeManifest(buf: Buffer): Manifest | string {
  if (buf.length < HEADER_BYTES) return `manifest is ${buf.length} bytes, shorter than its header`;
  const stored = readU32(buf, 0);
  const actual = crc32c(buf.subarray(4));
  if (stored !== actual) return `manifest checksum mismatch (stored ${stored}, computed ${actual})`;
  if (!buf.subarray(4, 12).equals(MAGIC)) return "bad magic: not a floe bitcask merge manifest";
  if (readU32(buf, 12) !== 1) return `unsupported manifest version ${readU32(buf, 12)}`;
  const ni = readU32(buf, 16);
  const no = readU32(buf, 20);
  if (ni > MAX_FILES || no > MAX_FILES || buf.length !== HEADER_BYTES + ni * 4 + no * OUTPUT_BYTES) {
    return `manifest of ${buf.length} bytes cannot hold ${ni} inputs and ${no} outputs`;
  }
  const m: Manifest = { inputs: [], outputs: [] };
  let at = HEADER_BYTES;
  for (let i = 0; i < ni; i++, at += 4) m.inputs.push(readU32(buf, at));
  for (let i = 0; i < no; i++, at += OUTPUT_BYTES) {
    const bytes = readU64(buf, at + 4);
    if (bytes < 0) return `output ${i} has an impossible size`;
    m.outputs.push({ id: readU32(buf, at), bytes });
  }
  return m;
}

/**
 * At open, before any data file is read: finish a committed merge, then delete
 * leftovers of uncommitted ones and of interrupted atomic writes.
 */
export function recoverMerge(dir: string, o: ResolvedOptions): void {
  const { fs } = o;
  const manifestPath = path.join(dir, MANIFEST_NAME);
  if (fs.existsSync(manifestPath)) {
    const size = fs.statSync(manifestPath).size;
    if (size > HEADER_BYTES + MAX_FILES * (4 + OUTPUT_BYTES)) {
      throw new BitcaskCorruptionError(manifestPath, 0, `manifest of ${size} bytes is larger than any merge`);
    }
    const m = decodeManifest(fs.readFileSync(manifestPath));
    if (typeof m === "string") throw new BitcaskCorruptionError(manifestPath, 0, m);
    for (const out of m.outputs) {
      for (const name of [dataName(out.id), hintName(out.id)]) {
        const pending = path.join(dir, name + MERGE_SUFFIX);
        if (fs.existsSync(pending)) fs.renameSync(pending, path.join(dir, name));
      }
      const data = path.join(dir, dataName(out.id));
      const actual = fs.existsSync(data) ? fs.statSync(data).size : -1;
      if (actual !== out.bytes) {
        throw new BitcaskCorruptionError(
          data,
          0,
          `committed merge output should be ${out.bytes} bytes, found ${actual < 0 ? "no file" : `${actual} bytes`}`,
        );
      }
    }
    fsyncDirSync(dir, o);
    for (const id of m.inputs) {
      unlinkIfExists(fs, path.join(dir, dataName(id)));
      unlinkIfExists(fs, path.join(dir, hintName(id)));
    }
    fsyncDirSync(dir, o);
    fs.unlinkSync(manifestPath);
    fsyncDirSync(dir, o);
    o.logger.warn(
      { dir, inputs: m.inputs, outputs: m.outputs.map((x) => x.id) },
      "bitcask: finished a merge that was interrupted after it committed",
    );
  }
  let removed = 0;
  for (const name of fs.readdirSync(dir)) {
    const leftover = name === MANIFEST_NAME + TMP_SUFFIX || (parseName(name)?.suffix ?? "") !== "";
    if (leftover && unlinkIfExists(fs, path.join(dir, name))) removed++;
  }
  if (removed > 0) fsyncDirSync(dir, o);
}
