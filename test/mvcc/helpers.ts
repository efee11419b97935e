// Shared test helpers: string <-> bytes and compact views of results.

import type { Event, KeyValue } from "../../src/mvcc/index.ts";
import { MemoryMvccStorage, MvccError, MvccStore } from "../../src/mvcc/index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const b = (s: string): Uint8Array => enc.encode(s);
export const str = (u: Uint8Array): string => dec.decode(u);

export function fresh(): { store: MvccStore; storage: MemoryMvccStorage } {
  const storage = new MemoryMvccStorage();
  return { store: MvccStore.open(storage), storage };
}

/** A KeyValue as a plain tuple-ish object, for deepEqual. */
export function kv(k: KeyValue): {
  key: string;
  value: string;
  create: number;
  mod: number;
  ver: number;
  lease: bigint;
} {
  return {
    key: str(k.key),
    value: str(k.value),
    create: k.createRevision,
    mod: k.modRevision,
    ver: k.version,
    lease: k.lease,
  };
}

export const keys = (kvs: KeyValue[]): string[] => kvs.map((k) => str(k.key));

export function ev(e: Event): string {
  const base = `${e.type === 0 ? "PUT" : "DELETE"} ${str(e.kv.key)}@${e.kv.modRevision}`;
  const withValue = e.type === 0 ? `${base}=${str(e.kv.value)}` : base;
  return e.prevKv ? `${withValue} (prev ${str(e.prevKv.value)}@${e.prevKv.modRevision})` : withValue;
}

/** Asserts that fn throws an MvccError with this code and returns it. */
export function throwsCode(fn: () => unknown, code: string): MvccError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MvccError && err.code === code) return err;
    throw new Error(`expected MvccError ${code}, got ${err instanceof MvccError ? err.code : String(err)}`);
  }
  throw new Error(`expected MvccError ${code}, nothing thrown`);
}
