import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32c } from "../../src/common/crc32c.ts";

test("crc32c matches the standard check value and continues across chunks", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  const whole = crc32c(Buffer.from("hello, world"));
  assert.equal(crc32c(Buffer.from(", world"), crc32c(Buffer.from("hello"))), whole);
  assert.equal(crc32c(new Uint8Array(Buffer.from("123456789"))), 0xe3069283);
});
