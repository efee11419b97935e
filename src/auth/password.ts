// Password hashes: scrypt from node:crypto (salted, memory-hard, slow by
// design), computed in the thread pool so a login does not block the member.
// A hash is "scrypt$N$r$p$salt$key" (base64), so the cost can change without
// invalidating stored hashes. bcrypt hashes ("$2a$...", what etcd stores) are
// checked too, so users restored from an etcd snapshot can still log in;
// floe itself only writes scrypt.

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

const N = 1 << 14;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r + (1 << 20) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return ["scrypt", N, R, P, salt.toString("base64"), key.toString("base64")].join("$");
}

/** Whether `password` matches `hash`; false (never a throw) for a malformed or empty hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
    try {
      return await bcrypt.compare(password, hash);
    } catch {
      return false;
    }
  }
  const parts = hash.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  if (![n, r, p].every((x) => Number.isSafeInteger(x) && x > 0) || n > 1 << 20) return false;
  const want = Buffer.from(parts[5], "base64");
  let got: Buffer;
  try {
    got = await derive(password, Buffer.from(parts[4], "base64"), n, r, p);
  } catch {
    return false; // parameters scrypt refuses (e.g. N not a power of two)
  }
  return got.length === want.length && timingSafeEqual(got, want);
}
