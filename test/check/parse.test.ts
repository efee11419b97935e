import assert from "node:assert/strict";
import { test } from "node:test";
import { checkHistory, ParseError, parseHistory, parseJepsenLog, parseKvEdn } from "../../src/check/index.ts";

/** Builds log lines from "PROCESS TYPE F VALUE" rows (the value may contain spaces). */
const jepsen = (...rows: string[]) =>
  rows.map((r) => `INFO  jepsen.util - ${r.replace(/^(\S+) (\S+) (\S+) /, "$1\t$2\t$3\t")}`).join("\n");

test("Jepsen lines pair invokes with completions per process, using line numbers as times", () => {
  const ops = parseJepsenLog(
    [
      "some header",
      jepsen("0 :invoke :write 3", "1 :invoke :read nil", "0 :ok :write 3", "1 :ok :read 3"),
    ].join("\n"),
  );
  assert.deepEqual(ops, [
    { clientId: 0, input: { f: "write", value: 3 }, call: 2, output: { ok: true }, ret: 4 },
    { clientId: 1, input: { f: "read" }, call: 3, output: { value: 3 }, ret: 5 },
  ]);
});

test("Jepsen nil reads parse as null and cas values as [from to]", () => {
  const ops = parseJepsenLog(
    jepsen("0 :invoke :read nil", "0 :ok :read nil", "0 :invoke :cas [1 4]", "0 :ok :cas [1 4]"),
  );
  assert.deepEqual(ops[0].output, { value: null });
  assert.deepEqual(ops[1].input, { f: "cas", from: 1, to: 4 });
  assert.deepEqual(ops[1].output, { ok: true });
});

test("a Jepsen :info operation stays pending forever with an unknown outcome", () => {
  const ops = parseJepsenLog(jepsen("3 :invoke :write 1", "3 :info :write :timed-out"));
  assert.equal(ops.length, 1);
  assert.equal(ops[0].ret, Number.POSITIVE_INFINITY);
  assert.equal(ops[0].output, undefined);
});

test("operations still open at the end of the log have an unknown outcome", () => {
  const ops = parseJepsenLog(jepsen("3 :invoke :cas [0 1]"));
  assert.equal(ops[0].ret, Number.POSITIVE_INFINITY);
});

test("a Jepsen :fail is dropped, or for cas kept as a compare mismatch on request", () => {
  const log = jepsen("0 :invoke :cas [0 1]", "0 :fail :cas [0 1]", "1 :invoke :write 2", "1 :fail :write 2");
  assert.deepEqual(parseJepsenLog(log), []);
  const kept = parseJepsenLog(log, "x", { failedCas: "mismatch" });
  assert.equal(kept.length, 1);
  assert.deepEqual(kept[0].output, { ok: false });
});

test("EDN kv lines parse into get / put / append operations", () => {
  const text = [
    '{:process 0, :type :invoke, :f :append, :key "k", :value "x 0 0 y"}',
    '{:process 1, :type :invoke, :f :get, :key "k", :value nil}',
    '{:process 0, :type :ok, :f :append, :key "k", :value "x 0 0 y"}',
    '{:process 1, :type :ok, :f :get, :key "k", :value "x 0 0 y"}',
    "",
  ].join("\n");
  const ops = parseKvEdn(text);
  assert.deepEqual(ops, [
    {
      clientId: 0,
      input: { f: "append", key: "k", value: "x 0 0 y" },
      call: 1,
      output: { ok: true },
      ret: 3,
    },
    { clientId: 1, input: { f: "get", key: "k" }, call: 2, output: { value: "x 0 0 y" }, ret: 4 },
  ]);
  assert.equal(checkHistory({ format: "kv-edn", ops }).verdict, "linearizable");
});

test("EDN strings may contain escaped quotes, commas and braces", () => {
  const ops = parseKvEdn(
    '{:process 0, :type :invoke, :f :put, :key "a\\"b", :value "{x, y}"}\n{:process 0, :type :ok, :f :put, :key "a\\"b", :value "{x, y}"}',
  );
  assert.deepEqual(ops[0].input, { f: "put", key: 'a"b', value: "{x, y}" });
});

test("Jepsen fields may be separated by spaces instead of tabs, as Porcupine accepts", () => {
  const tabs = jepsen("0 :invoke :write 3", "1 :invoke :cas [3 4]", "0 :ok :write 3", "1 :ok :cas [3 4]");
  const spaces = tabs.replace(/\t/g, " ");
  const mixed = tabs.replace(/\t/g, (_, at: number) => (at % 2 === 0 ? "  " : " \t"));
  assert.ok(!spaces.includes("\t"));
  assert.deepEqual(parseJepsenLog(spaces), parseJepsenLog(tabs));
  assert.deepEqual(parseJepsenLog(mixed), parseJepsenLog(tabs));
});

test("an empty history is trivially linearizable, not an input error", () => {
  for (const text of ["", "\n\n", "  \n\t\n"]) {
    const h = parseHistory(text, "empty.log");
    assert.equal(h.ops.length, 0);
    assert.equal(checkHistory(h).verdict, "linearizable");
  }
});

test("the format is detected by content", () => {
  assert.equal(parseHistory(jepsen("0 :invoke :read nil")).format, "jepsen-etcd");
  assert.equal(parseHistory('\n{:process 0, :type :invoke, :f :get, :key "k", :value nil}').format, "kv-edn");
});

test("parse errors name the file and the line", () => {
  const cases: [string, RegExp][] = [
    ["hello\nworld", /^h\.log:1: unrecognised history format/],
    [
      jepsen("0 :invoke :write 1", "0 :invoke :write 2"),
      /^h\.log:2: process 0 invokes again while its operation from line 1 is open/,
    ],
    [jepsen("0 :ok :read 1"), /^h\.log:1: process 0 completes an operation it never invoked/],
    [
      jepsen("0 :invoke :read nil", "0 :ok :write 1"),
      /^h\.log:2: process 0 completes write but invoked read/,
    ],
    [jepsen("0 :invoke :cas 1"), /^h\.log:1: expected \[FROM TO\]/],
    [jepsen("0 :invoke :frob nil"), /^h\.log:1: bad function :frob/],
    ["INFO  jepsen.util - 0\t:invoke", /^h\.log:1: expected 4 whitespace-separated fields/],
    [
      '{:process 0, :type :invoke, :f :get, :key "k", :value nil}\n{:process 0, :type :ok, :f :get, :key k}',
      /^h\.log:2: unsupported EDN value k/,
    ],
    ['{:process 0, :type :invoke, :f :get, :key "k}', /^h\.log:1: unterminated string/],
    ['{:process 0, :type :invoke, :f :put, :key "k", :value nil}', /^h\.log:1: :put needs a string :value/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseHistory(text, "h.log"),
      (e: unknown) => e instanceof ParseError && message.test(e.message),
      `expected ${message}`,
    );
  }
});
