import assert from "node:assert/strict";
import test from "node:test";
import fc from "fast-check";
import { Histogram, Registry } from "prom-client";
import { FastHistogram } from "../../src/api/histogram.ts";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1];

test("FastHistogram exports what prom-client's Histogram exports for the same observations", async () => {
  const observation = fc.record({
    protocol: fc.constantFrom("grpc", "http"),
    method: fc.constantFrom("KV.Put", "KV.Range"),
    // bounds themselves included: a value equal to a bound is in that bucket (le)
    value: fc.oneof(fc.constantFrom(...BUCKETS, 0, 5), fc.double({ min: 0, max: 3, noNaN: true })),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (obs) => {
      const slowReg = new Registry();
      const fastReg = new Registry();
      const slow = new Histogram({
        name: "h_seconds",
        help: "a histogram",
        labelNames: ["protocol", "method"],
        buckets: BUCKETS,
        registers: [slowReg],
      });
      const fast = new FastHistogram("h_seconds", "a histogram", BUCKETS, ["protocol", "method"], fastReg);
      for (const o of obs) {
        slow.observe({ protocol: o.protocol, method: o.method }, o.value);
        fast.series(o.protocol, o.method).observe(o.value);
      }
      // the same lines (series may come out in another order)
      const lines = (s: string) => s.split("\n").sort();
      assert.deepEqual(lines(await fastReg.metrics()), lines(await slowReg.metrics()));
      assert.deepEqual(
        (await fastReg.getMetricsAsJSON())[0].values.length,
        (await slowReg.getMetricsAsJSON())[0].values.length,
      );
    }),
    { numRuns: 200 },
  );
});

test("FastHistogram without labels; a wrong number of label values is refused", async () => {
  const reg = new Registry();
  const h = new FastHistogram("fsync_seconds", "fsyncs", [0.001, 0.01], [], reg);
  h.observe(0.0004);
  h.observe(0.002);
  h.observe(7);
  h.observe(Number.NaN); // not counted
  const text = await reg.metrics();
  assert.match(text, /^fsync_seconds_bucket\{le="0.001"\} 1$/m);
  assert.match(text, /^fsync_seconds_bucket\{le="0.01"\} 2$/m);
  assert.match(text, /^fsync_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^fsync_seconds_count 3$/m);
  assert.match(text, /^fsync_seconds_sum 7.0024$/m);
  assert.throws(() => h.series("x"), /1 label values for 0 names/);
  h.reset();
  assert.doesNotMatch(await reg.metrics(), /^fsync_seconds_count/m);
  h.observe(0.002);
  assert.match(await reg.metrics(), /^fsync_seconds_count 1$/m);
  assert.equal(reg.getSingleMetric("fsync_seconds"), h as never);
});
