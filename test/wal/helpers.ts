// Shared test helpers for the WAL: temp directories, entries, a captured
// logger, a sync counter and a canonical dump of any Raft Storage.

import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import type { Storage } from "../../src/raft/storage.ts";
import { type Entry, EntryType } from "../../src/raft/types.ts";
import type { SyncHook, SyncKind, Wal, WalLogger } from "../../src/wal/index.ts";

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "floe-wal-test-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export function ent(index: number, term: number, data: string | Uint8Array = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: typeof data === "string" ? Buffer.from(data) : data };
}

export function ents(from: number, to: number, term: number, size = 0): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++)
    out.push(ent(i, term, size > 0 ? Buffer.alloc(size, i % 251) : `e${i}t${term}`));
  return out;
}

export interface Captured {
  readonly logger: WalLogger;
  readonly events: { message: string; fields: Readonly<Record<string, unknown>> }[];
}

export function capture(): Captured {
  const events: Captured["events"] = [];
  return { logger: (message, fields) => events.push({ message, fields }), events };
}

export function syncCounter(): { onSync: SyncHook; counts: Record<SyncKind, number>; reset(): void } {
  const counts: Record<SyncKind, number> = { fdatasync: 0, fsync: 0, dirsync: 0 };
  return {
    onSync: (kind) => {
      counts[kind]++;
    },
    counts,
    reset() {
      counts.fdatasync = counts.fsync = counts.dirsync = 0;
    },
  };
}

/** Everything the Raft core can observe through Storage, in a comparable form. */
export function dump(st: Storage): unknown {
  const first = st.firstIndex();
  const last = st.lastIndex();
  const snap = st.snapshot();
  const list = last >= first ? st.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
  return {
    first,
    last,
    initial: st.initialState(),
    snapshot: snap?.metadata,
    termBeforeFirst: st.term(first - 1),
    entries: list.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString("hex")]),
  };
}

export async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

/** The Raft-visible view of a bare Wal, for comparing it with a model. */
export function walView(wal: Wal): Storage {
  return {
    initialState: () => ({ hardState: wal.state.hardState, confState: wal.state.snapshot.confState }),
    entries: (lo, hi, max) => wal.entries(lo, hi, max),
    term: (i) => {
      const t = wal.state.termAt(i);
      return t === undefined || t < 0 ? undefined : t;
    },
    firstIndex: () => wal.state.firstIndex(),
    lastIndex: () => wal.state.lastIndex(),
    snapshot: () => ({ metadata: wal.state.snapshot, data: new Uint8Array() }),
  };
}

export function digest(st: Storage): string {
  return createHash("sha1")
    .update(JSON.stringify(dump(st)))
    .digest("hex");
}
