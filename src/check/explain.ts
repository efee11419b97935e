import type { ExplainedOperation, Violation } from "./types.ts";

export interface FormatOptions {
  /** Show at most this many of the last prefix operations (default 20). */
  maxPrefix?: number;
}

/**
 * Renders a violation as a few indented lines: where the longest legal order
 * stops, the state there, and the operations the model rejects in it.
 */
export function formatViolation<I, O>(v: Violation<I, O>, opts: FormatOptions = {}): string {
  const maxPrefix = opts.maxPrefix ?? 20;
  const lines: string[] = [];
  const where = v.partitions > 1 ? ` in partition ${v.partition + 1} of ${v.partitions}` : "";
  lines.push(`not linearizable${where} (${v.partitionSize} operations)`);
  const shown = v.prefix.slice(Math.max(0, v.prefix.length - maxPrefix));
  const skipped = v.prefix.length - shown.length;
  if (v.prefix.length === 0) {
    lines.push(`  in the initial state ${v.initialState}, none of these is allowed to take effect first:`);
  } else {
    const tail = skipped > 0 ? `, the last ${shown.length}` : "";
    lines.push(`  longest linearizable prefix: ${v.prefix.length} operations${tail}:`);
    if (skipped > 0) lines.push(`    ... ${skipped} earlier`);
    const rows = shown.map((s) => [label(s), s.description, `state ${s.stateAfter}`]);
    const width = Math.max(...rows.map((r) => r[0].length + r[1].length));
    shown.forEach((_, k) => {
      const [who, what, after] = rows[k];
      const n = String(skipped + k + 1).padStart(String(v.prefix.length).length);
      lines.push(`    ${n}. ${who} ${what.padEnd(width - who.length)}  => ${after}`);
    });
    lines.push(`  then, in state ${v.finalState}, none of these is allowed to take effect next:`);
  }
  for (const s of v.stuck) {
    const overdue = s.overdue ? ` (returned at ${s.op.ret}: it cannot be put off any longer)` : "";
    lines.push(`    ${s.overdue ? "!" : "-"} ${label(s)} ${s.description}${overdue}`);
  }
  return lines.join("\n");
}

function label<I, O>(e: ExplainedOperation<I, O>): string {
  const ret = e.op.ret === Number.POSITIVE_INFINITY ? "?" : String(e.op.ret);
  return `[client ${e.op.clientId} @${e.op.call}..${ret}]`;
}
