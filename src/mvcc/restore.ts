// Writing a snapshot stream into storage. A marker record goes first and is
// removed last, so a crash mid-way leaves storage that opens as "needs
// restore" rather than as a silent mix of two states. Only MVCC's own key
// prefixes are cleared: other modules may share the engine.

import { bytesEqual } from "./bytes.ts";
import { MVCC_PREFIXES, prefixLimit, prefixStart, RESTORING_KEY, STATE_KEY } from "./codec.ts";
import { MvccError } from "./errors.ts";
import { decodeSnapshot } from "./snapshot.ts";
import type { MvccStorage } from "./storage.ts";

const CLEAR_BATCH = 4096;

export async function restoreStorage(
  storage: MvccStorage,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  storage.write({ puts: [[RESTORING_KEY, Uint8Array.of(1)]], deletes: [] });
  clearMvccRecords(storage);
  await decodeSnapshot(chunks, (batch) => storage.write(batch));
  if (storage.get(STATE_KEY) === undefined)
    throw new MvccError("Corrupt", "snapshot without a meta state record");
  storage.write({ puts: [], deletes: [RESTORING_KEY] });
}

function clearMvccRecords(storage: MvccStorage): void {
  for (const prefix of MVCC_PREFIXES) {
    for (;;) {
      const page: Uint8Array[] = [];
      for (const [k] of storage.scan(prefixStart(prefix), prefixLimit(prefix))) {
        if (bytesEqual(k, RESTORING_KEY)) continue;
        page.push(k);
        if (page.length === CLEAR_BATCH) break;
      }
      if (page.length === 0) break;
      storage.write({ puts: [], deletes: page });
    }
  }
}
