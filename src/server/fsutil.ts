// Durable file writes: temp file, fsync, rename, fsync the directory.

import { closeSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Replaces `path` with `data` durably. `commit`, if given, is asked right
 * before the rename, which then happens synchronously, so no other code runs
 * between the answer and the switch; false leaves the old file in place.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  commit: () => boolean = () => true,
): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (!commit()) {
    await rm(tmp, { force: true });
    return false;
  }
  renameSync(tmp, path);
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  return true;
}

/** Removes `path` (if present) and syncs its directory, synchronously. */
export function removeFileDurably(path: string): void {
  rmSync(path, { force: true });
  const d = openSync(dirname(path), "r");
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}
