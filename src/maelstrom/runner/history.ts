/**
 * The recorded history in the two shapes it is consumed in: operations for
 * floe's linearizability checker, and `history.txt`, one line per operation
 * (and per nemesis event) in call order.
 */
import {
  canonicalJson,
  type LinKvInput,
  type LinKvOutput,
  linKvOutcome,
  type Operation,
} from "../../check/index.ts";
import type { OpRecord, PartitionPeriod } from "./types.ts";

/**
 * The operation the checker should see, or undefined when it certainly had
 * no effect. Replies go in as received (errors 20 and 22 say what the key
 * held); a write or cas that timed out or got an indefinite error may have
 * happened at any time after its call; a read that did not succeed is left
 * out, since reads have no effect.
 */
export function toOperation(op: OpRecord): Operation<LinKvInput, LinKvOutput> | undefined {
  const clientId = Number(op.client.slice(1));
  if (op.output !== undefined && op.ret !== undefined) {
    const outcome = linKvOutcome(op.output);
    if (outcome === "ok") return { clientId, input: op.input, call: op.call, output: op.output, ret: op.ret };
    if (outcome === "failed") return undefined;
  }
  if (op.input.type === "read") return undefined;
  return { clientId, input: op.input, call: op.call, output: undefined, ret: Number.POSITIVE_INFINITY };
}

export function describeInput(input: LinKvInput): string {
  const key = canonicalJson(input.key);
  switch (input.type) {
    case "read":
      return `read ${key}`;
    case "write":
      return `write ${key} ${canonicalJson(input.value)}`;
    case "cas":
      return `cas ${key} ${canonicalJson(input.from)}->${canonicalJson(input.to)}`;
  }
}

export function describeResult(op: OpRecord): string {
  if (op.output?.type === "read_ok") return `-> ${canonicalJson(op.output.value)}`;
  if (op.outcome === "ok") return "-> ok";
  return op.error ?? "(no reply)";
}

const seconds = (ms: number) => (ms / 1000).toFixed(3).padStart(8);

/** history.txt: times in seconds since the test started, then who, outcome, operation and result. */
export function formatHistory(history: OpRecord[], partitions: PartitionPeriod[]): string {
  const rows: { at: number; text: string }[] = [];
  for (const op of history) {
    const ret = op.ret === undefined ? "       ?" : seconds(op.ret);
    const who = `${op.client}@${op.node}`.padEnd(10);
    const outcome = (op.outcome ?? "info").padEnd(4);
    const final = op.final ? "  [final read]" : "";
    rows.push({
      at: op.call,
      text: `${seconds(op.call)} ..${ret}  w${String(op.worker).padEnd(3)} ${who} ${outcome}  ${describeInput(op.input).padEnd(14)} ${describeResult(op)}${final}`,
    });
  }
  for (const p of partitions) {
    rows.push({
      at: p.start,
      text: `${seconds(p.start)}  nemesis  start-partition ${p.kind}: ${p.description}`,
    });
    if (p.end !== undefined)
      rows.push({ at: p.end, text: `${seconds(p.end)}  nemesis  stop-partition (healed)` });
  }
  rows.sort((a, b) => a.at - b.at);
  const header =
    "# call (s) .. return (s)  worker client@node outcome  operation  result\n" +
    "# outcomes: ok; fail = certainly no effect; info = write/cas with unknown outcome\n";
  return header + rows.map((r) => r.text).join("\n") + (rows.length > 0 ? "\n" : "");
}
