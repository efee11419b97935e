// `floe debug dump <data-dir>`: what a stopped member holds on disk: its
// identity, Raft hard state, snapshot metadata, WAL entries with decoded
// commands, and bitcask statistics.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { InternalRequestSchema } from "../api/gen/floe/raft_internal_pb.ts";
import { Bitcask } from "../bitcask/index.ts";
import { decodeConfChange, EntryType } from "../raft/index.ts";
import { WalStorage } from "../wal/index.ts";

/** Proposals carry an 8-byte id before the InternalRequest (see server/runtime.ts). */
const ID_BYTES = 8;

function describe(type: EntryType, data: Uint8Array): string {
  if (type === EntryType.ConfChange) return `conf-change ${JSON.stringify(decodeConfChange(data))}`;
  if (data.length === 0) return "empty (leader's first entry)";
  if (data.length < ID_BYTES) return `? ${Buffer.from(data).toString("hex")}`;
  try {
    const req = fromBinary(InternalRequestSchema, data.subarray(ID_BYTES));
    return JSON.stringify(toJson(InternalRequestSchema, req));
  } catch (e) {
    return `undecodable (${(e as Error).message}): ${Buffer.from(data).toString("hex").slice(0, 80)}`;
  }
}

export async function runDebug(argv: string[]): Promise<void> {
  const [sub, dir, ...rest] = argv;
  if (sub !== "dump" || !dir) {
    process.stderr.write("usage: floe debug dump <data-dir> [--entries N]\n");
    process.exitCode = 2;
    return;
  }
  const n = rest[0] === "--entries" ? Number(rest[1]) : 50;
  if (!existsSync(dir)) {
    process.stderr.write(`floe debug dump: ${dir} does not exist\n`);
    process.exitCode = 1;
    return;
  }
  const memberFile = join(dir, "member.json");
  console.log("== member");
  console.log(existsSync(memberFile) ? readFileSync(memberFile, "utf8").trim() : "(no member.json)");
  const wal = await WalStorage.open(dir, {
    logger: (m, f) => console.log(`wal warning: ${m} ${JSON.stringify(f)}`),
  });
  try {
    const { hardState, confState } = wal.initialState();
    const snap = wal.snapshot().metadata;
    console.log("== raft");
    console.log(
      `hard state: term=${hardState.term} vote=${hardState.vote.toString(16)} commit=${hardState.commit}`,
    );
    console.log(`log: first=${wal.firstIndex()} last=${wal.lastIndex()}`);
    console.log(
      `snapshot: index=${snap.index} term=${snap.term} voters=${confState.voters.map((v) => v.toString(16)).join(",")}`,
    );
    const hi = wal.lastIndex() + 1;
    const lo = Math.max(wal.firstIndex(), hi - n);
    console.log(`== entries ${lo}..${hi - 1} (last ${n}; --entries N for more)`);
    if (lo < hi) {
      for (const e of wal.entries(lo, hi, Number.MAX_SAFE_INTEGER)) {
        console.log(`${e.index}\tterm ${e.term}\t${describe(e.type, e.data)}`);
      }
    }
  } finally {
    await wal.close();
  }
  console.log("== bitcask");
  const kvDir = join(dir, "kv");
  if (!existsSync(kvDir)) {
    console.log("(no kv directory)");
    return;
  }
  const db = await Bitcask.open(kvDir);
  try {
    const { dataFiles: _files, ...stats } = db.stats();
    console.log(JSON.stringify(stats));
  } finally {
    await db.close();
  }
}
