// Password hashes and simple tokens.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hashPassword, SimpleTokens, verifyPassword } from "../../src/auth/index.ts";

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
