// Password hashes and simple tokens.
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { test } from "node:test";
import {
  hashPassword,
  type JwtOptions,
  JwtTokens,
  parseGoDuration,
  SimpleTokens,
  verifyPassword,
} from "../../src/auth/index.ts";

test("passwords are stored as salted scrypt hashes and only the right password verifies", async () => {
  const h1 = await hashPassword("s3cret");
  const h2 = await hashPassword("s3cret");
  assert.match(h1, /^scrypt\$16384\$8\$1\$/);
  assert.notEqual(h1, h2, "each hash has its own salt");
  assert.ok(!h1.includes("s3cret"));
  assert.equal(await verifyPassword("s3cret", h1), true);
  assert.equal(await verifyPassword("s3cret", h2), true);
  assert.equal(await verifyPassword("S3cret", h1), false);
  assert.equal(await verifyPassword("", h1), false);
  assert.equal(await verifyPassword("s3cret", ""), false, "a user without a password never verifies");
  assert.equal(await verifyPassword("s3cret", "scrypt$1$1$1$x$y"), false);
});

test("bcrypt hashes (what etcd stores, e.g. in a restored etcd snapshot) verify too", async () => {
  // a published bcrypt test vector (OpenBSD's): password "U*U", cost 5
  const h = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
  assert.equal(await verifyPassword("U*U", h), true);
  assert.equal(await verifyPassword("U*V", h), false);
  assert.equal(await verifyPassword("U*U", `${h.slice(0, -1)}X`), false);
  assert.equal(await verifyPassword("U*U", "$2a$05$short"), false, "a malformed bcrypt hash never verifies");
});

test("a simple token lives while it is used within its TTL, and dies with its user or with auth", () => {
  let now = 1000;
  const t = new SimpleTokens(300_000, () => now);
  const a = SimpleTokens.generate();
  assert.notEqual(a, SimpleTokens.generate());
  t.assign(a, "alice");
  const b = SimpleTokens.generate();
  t.assign(b, "bob");
  now += 299_000;
  assert.equal(t.username(a), "alice", "use renews it");
  now += 299_000;
  assert.equal(t.username(a), "alice");
  assert.equal(t.username(b), undefined, "unused for longer than the TTL");
  assert.equal(t.username("forged"), undefined);
  t.invalidateUser("alice");
  assert.equal(t.username(a), undefined);
  const c = SimpleTokens.generate();
  t.assign(c, "carol");
  t.clear();
  assert.equal(t.username(c), undefined);
});

test("JWT tokens: signed and verified with RS256, ES256 and HS256; a wrong key, a forgery or an expired token is refused", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = (k: KeyObject, type: "spki" | "pkcs8") =>
    Buffer.from(k.export({ type, format: "pem" }) as string);
  const cases: [string, JwtOptions["signMethod"], Buffer, Buffer][] = [
    ["rsa", "RS256", pem(rsa.publicKey, "spki"), pem(rsa.privateKey, "pkcs8")],
    ["ec", "ES256", pem(ec.publicKey, "spki"), pem(ec.privateKey, "pkcs8")],
    ["hmac", "HS256", Buffer.from("a shared secret"), Buffer.from("a shared secret")],
  ];
  for (const [name, signMethod, verifyKey, signKey] of cases) {
    let now = 1_000_000_000_000;
    const issuer = new JwtTokens({ signMethod, verifyKey, signKey, ttlSeconds: 300 }, () => now);
    const token = issuer.sign("alice", 7);
    assert.deepEqual(issuer.verify(token), { username: "alice", revision: 7 }, name);
    // a member with only the public key accepts it
    const verifier = new JwtTokens({ signMethod, verifyKey, signKey: undefined, ttlSeconds: 300 }, () => now);
    assert.deepEqual(verifier.verify(token), { username: "alice", revision: 7 }, name);
    const [h, p] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ username: "root", revision: 7, exp: 9e9 })).toString("base64url")}.${token.split(".")[2]}`;
    assert.equal(verifier.verify(forged), undefined, `${name}: a changed payload`);
    assert.equal(verifier.verify(`${h}.${p}.`), undefined, `${name}: no signature`);
    now += 301_000;
    assert.equal(verifier.verify(token), undefined, `${name}: expired`);
  }
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const wrong = new JwtTokens({
    signMethod: "RS256",
    verifyKey: pem(other.publicKey, "spki"),
    signKey: undefined,
    ttlSeconds: 300,
  });
  const signed = new JwtTokens({
    signMethod: "RS256",
    verifyKey: pem(rsa.publicKey, "spki"),
    signKey: pem(rsa.privateKey, "pkcs8"),
    ttlSeconds: 300,
  }).sign("bob", 1);
  assert.equal(wrong.verify(signed), undefined, "another member's key pair");
  // a key that does not fit the method is refused when the member starts
  assert.throws(
    () =>
      new JwtTokens({
        signMethod: "ES256",
        verifyKey: pem(rsa.publicKey, "spki"),
        signKey: pem(rsa.privateKey, "pkcs8"),
        ttlSeconds: 1,
      }),
  );
  assert.equal(parseGoDuration("1h30m"), 5400);
  assert.equal(parseGoDuration("1s"), 1);
  assert.throws(() => parseGoDuration("soon"), /not a positive duration/);
});
