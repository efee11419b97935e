// `floe snapshot save|status|restore`: download a member's snapshot over the
// Maintenance API (as `etcdctl snapshot save` does), inspect a saved file, and
// build a fresh one-member data directory from it: the disaster-recovery path
// when a cluster is lost.
//
// A snapshot file is what etcd's is: a bbolt database in etcd's backend
// layout (mvcc/etcd-backend.ts) followed by the SHA-256 of it, so etcdctl
// reads floe's and floe reads etcd's (a bare bbolt file, such as an etcd
// member's member/snap/db, is read too). Files from floe before that (a
// "FLOEMVC1" image, zero padding to 512-byte pages, then the SHA-256) are
// still read.

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createClient } from "@connectrpc/connect";
import { Presets, SingleBar } from "cli-progress";
import { Command } from "commander";
import { Maintenance } from "../api/gen/etcdserverpb/rpc_pb.ts";
import { looksLikeBolt } from "../bbolt/index.ts";
import { buildNewCluster, imageFromBolt, imageFromDataDir } from "../server/index.ts";
import { transport } from "./client.ts";

export class SnapshotFileError extends Error {
  override name = "SnapshotFileError";
}

const MAGIC = "FLOEMVC1";
const FRAME_HEADER = 9;
const FRAME_END = 2;

export interface SnapshotFileInfo {
  /** The state-machine image (mvcc/snapshot.ts framing), what a restore installs. */
  image: Uint8Array;
  /** Frames of a floe image; buckets of a bbolt file. */
  frames: number;
  bytes: number;
  format: "bbolt" | "floe";
  /** For bbolt files: the last revision and the number of keys in all buckets (etcdctl's totalKey). */
  revision?: number;
  totalKeys?: number;
  /** Whether a SHA-256 trailer was present and verified (a bare database file has none). */
  hashChecked: boolean;
}

/** Verifies the digest and returns the image to restore (see the top of this file for the formats). */
export function readSnapshotFile(file: string): SnapshotFileInfo {
  const buf = readFileSync(file);
  if (looksLikeBolt(buf)) return readBoltSnapshot(file, buf);
  if (buf.length < MAGIC.length + 32)
    throw new SnapshotFileError(`${file}: ${buf.length} bytes is too short for a snapshot`);
  const body = buf.subarray(0, buf.length - 32);
  const digest = createHash("sha256").update(body).digest();
  if (!digest.equals(buf.subarray(buf.length - 32))) {
    throw new SnapshotFileError(`${file}: SHA-256 mismatch (the file is damaged or not a floe snapshot)`);
  }
  if (body.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) {
    throw new SnapshotFileError(`${file}: does not start with ${MAGIC}; not a floe snapshot`);
  }
  let at = MAGIC.length;
  let frames = 0;
  for (;;) {
    if (at + FRAME_HEADER > body.length)
      throw new SnapshotFileError(`${file}: frame header at ${at} runs past the end`);
    const type = body[at];
    const len = body.readUInt32BE(at + 1);
    const end = at + FRAME_HEADER + len;
    if (end > body.length)
      throw new SnapshotFileError(`${file}: frame at ${at} (length ${len}) runs past the end`);
    frames++;
    at = end;
    if (type === FRAME_END) break;
  }
  if (body.subarray(at).some((b) => b !== 0))
    throw new SnapshotFileError(`${file}: non-zero bytes after the last frame at ${at}`);
  return { image: body.subarray(0, at), frames, bytes: buf.length, format: "floe", hashChecked: true };
}

/** An etcd-layout bbolt snapshot: etcd's rule for the trailer (size % 512 == 32), then its buckets. */
function readBoltSnapshot(file: string, buf: Buffer): SnapshotFileInfo {
  const hasHash = buf.length % 512 === SHA256_BYTES;
  const db = hasHash ? buf.subarray(0, buf.length - SHA256_BYTES) : buf;
  if (hasHash && !createHash("sha256").update(db).digest().equals(buf.subarray(db.length))) {
    throw new SnapshotFileError(`${file}: SHA-256 mismatch (the file is damaged)`);
  }
  let img: ReturnType<typeof imageFromBolt>;
  try {
    img = imageFromBolt(db);
  } catch (e) {
    throw new SnapshotFileError(`${file}: not a usable etcd snapshot: ${(e as Error).message}`);
  }
  return {
    image: img.image,
    frames: img.buckets,
    bytes: buf.length,
    format: "bbolt",
    revision: img.revision,
    totalKeys: img.totalKeys,
    hashChecked: hasHash,
  };
}

const SHA256_BYTES = 32;

/**
 * Hashes a stream whose last 32 bytes are the SHA-256 of everything before
 * them, holding back the newest 32 bytes since any chunk may be the last.
 */
export class TrailerCheck {
  private readonly sha = createHash("sha256");
  private tail = Buffer.alloc(0);

  update(blob: Uint8Array): void {
    const all = Buffer.concat([this.tail, blob]);
    const cut = Math.max(0, all.length - SHA256_BYTES);
    this.sha.update(all.subarray(0, cut));
    this.tail = all.subarray(cut);
  }

  ok(): boolean {
    return this.tail.length === SHA256_BYTES && this.sha.digest().equals(this.tail);
  }
}

/**
 * Downloads a snapshot to `file`: into `<file>.part`, checking the SHA-256
 * trailer as it arrives, then fsync, rename and directory fsync, so `file`
 * either does not change or holds a complete, verified snapshot.
 */
export async function saveSnapshot(opts: {
  endpoints: string;
  file: string;
  /** Draw a progress bar on stderr (cli-progress draws only on a terminal). */
  progress?: boolean;
}): Promise<{ bytes: number }> {
  const part = `${opts.file}.part`;
  const fh = await open(part, "w");
  const check = new TrailerCheck();
  const bar = opts.progress
    ? new SingleBar(
        { format: "snapshot |{bar}| {percentage}% {value}/{total} bytes", hideCursor: true },
        Presets.shades_classic,
      )
    : undefined;
  let bytes = 0;
  let started = false;
  let saved = false;
  try {
    const m = createClient(Maintenance, transport(opts.endpoints));
    for await (const r of m.snapshot({})) {
      await fh.write(r.blob);
      check.update(r.blob);
      bytes += r.blob.length;
      // remaining_bytes may be an estimate: the total is what is known so far.
      const total = bytes + Number(r.remainingBytes);
      if (bar && !started) bar.start(total, bytes);
      else bar?.setTotal(total);
      started = true;
      bar?.update(bytes);
    }
    bar?.stop();
    if (!check.ok()) {
      throw new SnapshotFileError(
        `snapshot from ${opts.endpoints}: SHA-256 trailer mismatch after ${bytes} bytes (truncated or damaged)`,
      );
    }
    await fh.sync();
    await fh.close();
    await rename(part, opts.file);
    const dir = await open(dirname(opts.file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    saved = true;
    return { bytes };
  } finally {
    bar?.stop();
    if (!saved) {
      await fh.close().catch(() => {});
      await rm(part, { force: true });
    }
  }
}

/**
 * Builds a new one-member cluster's data directory from a snapshot file, or
 * from a stopped member's data directory when `file` is a directory.
 */
export async function restoreSnapshot(opts: {
  file: string;
  dataDir: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  token: string;
}): Promise<{ memberId: bigint; clusterId: bigint; index: number; revision: number }> {
  if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
    throw new SnapshotFileError(`${opts.dataDir} is not empty; restore into a new data directory`);
  }
  const image = statSync(opts.file).isDirectory()
    ? await imageFromDataDir(opts.file)
    : readSnapshotFile(opts.file).image;
  return buildNewCluster({ ...opts, image });
}

export async function runSnapshot(argv: string[]): Promise<void> {
  const program = new Command("floe snapshot");
  program
    .command("save <file>")
    .description("download a member's snapshot over the Maintenance API, verified and fsync'd")
    .option(
      "--endpoints <list>",
      "client URL of the member (the first of a list)",
      process.env.FLOE_ENDPOINTS ?? "127.0.0.1:2379",
    )
    .action(async (file: string, o: { endpoints: string }) => {
      const r = await saveSnapshot({ endpoints: o.endpoints, file, progress: true });
      console.log(`Snapshot saved at ${file} (${r.bytes} bytes, SHA-256 verified)`);
    });
  program
    .command("status <file>")
    .description("verify a snapshot file and print what it holds")
    .action((file: string) => {
      const s = readSnapshotFile(file);
      const hash = s.hashChecked ? "SHA-256 verified" : "no SHA-256 trailer (a bare database file)";
      console.log(
        s.format === "bbolt"
          ? `${file}: ok, ${s.bytes} bytes, etcd backend layout (bbolt), revision ${s.revision}, ${s.totalKeys} keys in ${s.frames} buckets, ${hash}`
          : `${file}: ok, ${s.bytes} bytes, floe image ${s.image.length} bytes in ${s.frames} frames, ${hash}`,
      );
    });
  program
    .command("restore <file-or-data-dir>")
    .description(
      "build a new one-member cluster's data directory from a snapshot file or a stopped member's data directory",
    )
    .requiredOption("--data-dir <dir>", "new data directory (must not exist or be empty)")
    .option("--name <name>", "member name", "default")
    .option("--initial-advertise-peer-urls <urls>", "peer URLs of the new member", "http://127.0.0.1:2380")
    .option("--advertise-client-urls <urls>", "client URLs of the new member", "http://127.0.0.1:2379")
    .option("--initial-cluster-token <token>", "token of the new cluster", "floe-cluster")
    .action(async (file: string, o: Record<string, string>) => {
      const r = await restoreSnapshot({
        file,
        dataDir: o.dataDir,
        name: o.name,
        peerUrls: o.initialAdvertisePeerUrls.split(","),
        clientUrls: o.advertiseClientUrls.split(","),
        token: o.initialClusterToken,
      });
      console.log(
        `restored ${file} into ${o.dataDir}: member ${r.memberId.toString(16)} of new cluster ${r.clusterId.toString(16)}, ` +
          `revision ${r.revision}, log starts after index ${r.index}. Start it with: ` +
          `floe start --name ${o.name} --data-dir ${o.dataDir} --initial-cluster ${o.name}=${o.initialAdvertisePeerUrls.split(",")[0]} ` +
          `--initial-cluster-token ${o.initialClusterToken}`,
      );
    });
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    process.stderr.write(`floe snapshot: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
