// `floe maelstrom`: runs a lin-kv node over stdin/stdout. Nothing but
// protocol messages is written to stdout; logs go to stderr.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { type Envelope, MaelstromNode } from "./node.ts";

export function runMaelstromNode(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      "tick-ms": { type: "string", default: "25" },
      "unsafe-local-reads": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
    },
  });
  const tickMs = Number(values["tick-ms"]);
  if (!(tickMs >= 1 && tickMs <= 10_000)) {
    process.stderr.write(`floe maelstrom: --tick-ms must be between 1 and 10000, got ${values["tick-ms"]}\n`);
    process.exit(2);
  }
  const logger = pino({ level: values["log-level"] }, pino.destination(2));
  const node = new MaelstromNode({
    send: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
    log: (event, fields) => logger.info({ ...fields }, event),
    unsafeLocalReads: values["unsafe-local-reads"],
    tickMs,
  });
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim() === "") return;
    let e: Envelope;
    try {
      e = JSON.parse(line) as Envelope;
    } catch {
      logger.warn({ line: line.slice(0, 200) }, "ignored a line that is not JSON");
      return;
    }
    if (
      !e ||
      typeof e !== "object" ||
      typeof e.src !== "string" ||
      !e.body ||
      typeof e.body.type !== "string"
    ) {
      logger.warn({ line: line.slice(0, 200) }, "ignored a message without src or body.type");
      return;
    }
    node.handle(e);
  });
  rl.on("close", () => {
    node.stop();
    logger.flush();
  });
}
