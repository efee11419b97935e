// etcd's JWT tokens (--auth-token jwt,pub-key=...,priv-key=...,sign-method=RS256,ttl=5m):
// self-contained, signed tokens carrying the user and the auth revision they
// were issued at, checked by any member holding the public key (no state is
// shared). A token issued before an auth change is refused as "revision of
// auth store is old", and clients log in again. Signing and verifying use
// the jsonwebtoken library.

import { readFileSync } from "node:fs";
import jwt from "jsonwebtoken";

const METHODS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
] as const;
export type JwtMethod = (typeof METHODS)[number];

export interface JwtOptions {
  signMethod: JwtMethod;
  /** PEM public key (RS/PS/ES) used to verify; for HS, the shared secret. */
  verifyKey: Buffer;
  /** PEM private key (or HS secret) used to sign; absent: this member only verifies. */
  signKey: Buffer | undefined;
  ttlSeconds: number;
}

/** A Go duration as etcd's flag takes it ("5m", "90s", "1h30m"); seconds. */
export function parseGoDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001 }[m[2] as "h" | "m" | "s" | "ms"];
    at = re.lastIndex;
  }
  if (s === "" || at !== s.length || total <= 0)
    throw new Error(`ttl ${JSON.stringify(s)} is not a positive duration like 5m or 300s`);
  return total;
}

/**
 * Parses etcd's `--auth-token jwt,...` value and reads the key files; throws
 * an Error that names the option or file at fault.
 */
export function parseJwtSpec(
  spec: string,
  read: (file: string) => Buffer = (f) => readFileSync(f),
): JwtOptions {
  const [kind, ...parts] = spec.split(",");
  if (kind !== "jwt") throw new Error(`expected jwt,..., got ${JSON.stringify(spec)}`);
  const o = new Map<string, string>();
  for (const p of parts) {
    const eq = p.indexOf("=");
    if (eq < 0) throw new Error(`option ${JSON.stringify(p)} is not key=value`);
    o.set(p.slice(0, eq), p.slice(eq + 1));
  }
  for (const k of o.keys()) {
    if (!["pub-key", "priv-key", "sign-method", "ttl"].includes(k))
      throw new Error(`unknown jwt option ${JSON.stringify(k)}`);
  }
  const method = o.get("sign-method");
  if (method === undefined || !(METHODS as readonly string[]).includes(method)) {
    throw new Error(`sign-method must be one of ${METHODS.join(", ")}, got ${JSON.stringify(method ?? "")}`);
  }
  const load = (k: string): Buffer | undefined => {
    const f = o.get(k);
    if (f === undefined) return undefined;
    try {
      return read(f);
    } catch (e) {
      throw new Error(`${k} ${f}: ${(e as Error).message}`);
    }
  };
  const priv = load("priv-key");
  const pub = load("pub-key");
  const hmac = method.startsWith("HS");
  const verifyKey = hmac ? priv : pub;
  if (verifyKey === undefined)
    throw new Error(hmac ? "HS methods need priv-key (the shared secret)" : "pub-key is required");
  return {
    signMethod: method as JwtMethod,
    verifyKey,
    signKey: priv,
    ttlSeconds: o.has("ttl") ? parseGoDuration(o.get("ttl") as string) : 300,
  };
}

interface Verified {
  username: string;
  revision: number;
  expiresAtMs: number;
}

export class JwtTokens {
  /** Tokens already verified, so a client's every request does not pay a signature check. */
  private readonly cache = new Map<string, Verified>();

  constructor(
    private readonly o: JwtOptions,
    private readonly now: () => number = Date.now,
  ) {
    // fail at start, not at the first login, on a key that does not fit the method
    if (o.signKey !== undefined) this.verify(this.sign("floe-key-check", 0));
  }

  sign(username: string, revision: number): string {
    if (this.o.signKey === undefined) throw new Error("this member has no priv-key to sign tokens with");
    return jwt.sign({ username, revision, iat: Math.floor(this.now() / 1000) }, this.o.signKey, {
      algorithm: this.o.signMethod,
      expiresIn: Math.ceil(this.o.ttlSeconds),
    });
  }

  /** The user and revision of a valid, unexpired token; undefined otherwise. */
  verify(token: string): { username: string; revision: number } | undefined {
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      if (hit.expiresAtMs > now) return { username: hit.username, revision: hit.revision };
      this.cache.delete(token);
      return undefined;
    }
    let claims: jwt.JwtPayload | string;
    try {
      claims = jwt.verify(token, this.o.verifyKey, {
        algorithms: [this.o.signMethod],
        clockTimestamp: Math.floor(now / 1000),
      });
    } catch {
      return undefined;
    }
    if (
      typeof claims === "string" ||
      typeof claims.username !== "string" ||
      typeof claims.revision !== "number"
    )
      return undefined;
    const v = { username: claims.username, revision: claims.revision, expiresAtMs: (claims.exp ?? 0) * 1000 };
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(token, v);
    return { username: v.username, revision: v.revision };
  }
}
