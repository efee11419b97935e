// etcd's "simple" tokens: random strings a member hands out at login,
// valid while used at least once per TTL (--auth-token-ttl, etcd's default
// 300 s). A login goes through the log, so every member registers the same
// token when it applies the entry and any member accepts it; tokens live in
// memory only (a restarted member forgets them and clients log in again, as
// with etcd). A user's tokens die when the user is deleted or changes
// password, and all of them when auth is turned off.

import { randomBytes } from "node:crypto";

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

interface Entry {
  username: string;
  expiresAtMs: number;
}

export class SimpleTokens {
  private readonly tokens = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new token, chosen by the member that proposes the login (about 131 bits). */
  static generate(): string {
    const b = randomBytes(24);
    let s = "";
    for (const x of b) s += LETTERS[x % LETTERS.length];
    return s;
  }

  /** Registers the token of an applied login (every member does, from the log). */
  assign(token: string, username: string): void {
    this.tokens.set(token, { username, expiresAtMs: this.now() + this.ttlMs });
  }

  /** The user a live token belongs to (renewing it), or undefined. */
  username(token: string): string | undefined {
    const e = this.tokens.get(token);
    if (e === undefined) return undefined;
    const now = this.now();
    if (e.expiresAtMs <= now) {
      this.tokens.delete(token);
      return undefined;
    }
    e.expiresAtMs = now + this.ttlMs;
    return e.username;
  }

  invalidateUser(username: string): void {
    for (const [t, e] of this.tokens) if (e.username === username) this.tokens.delete(t);
  }

  clear(): void {
    this.tokens.clear();
  }

  /** Drops expired tokens (called now and then, so abandoned ones do not pile up). */
  sweep(): void {
    const now = this.now();
    for (const [t, e] of this.tokens) if (e.expiresAtMs <= now) this.tokens.delete(t);
  }

  get size(): number {
    return this.tokens.size;
  }
}
