// An in-memory LogStore (no durability) for tests and for nodes that keep no
// disk state, such as the Maelstrom node.

import { type ConfState, MemoryStorage, type Snapshot } from "../raft/index.ts";
import { collectImage, type LogStore, type SaveRequest, type SnapshotImage } from "./runtime.ts";

export class MemoryLogStore extends MemoryStorage implements LogStore {
  /** Entries kept behind a snapshot so slightly slow followers can still catch up from the log. */
  constructor(
    private readonly keepEntries = 100,
    snapshot?: Snapshot,
  ) {
    super(snapshot);
  }

  static bootstrapped(voters: readonly number[], keepEntries = 100): MemoryLogStore {
    const base = MemoryStorage.bootstrap(voters);
    const s = new MemoryLogStore(keepEntries, base.snapshot());
    s.setHardState(base.hardState());
    return s;
  }

  async save(rd: SaveRequest): Promise<void> {
    if (rd.snapshot) this.applySnapshot(rd.snapshot);
    this.append(rd.entries);
    if (rd.hardState) this.setHardState(rd.hardState);
  }

  async saveLocalSnapshot(index: number, cs: ConfState, image: SnapshotImage): Promise<void> {
    this.createSnapshot(index, cs, await collectImage(image), this.keepEntries);
  }
}
