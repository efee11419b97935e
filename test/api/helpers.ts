// Shared setup for the API tests: a server on an ephemeral port in front of
// the fake backend, with a silent logger that still records error lines.

import { pino } from "pino";
import type { ApiLimits } from "../../src/api/options.ts";
import { type ApiServer, startApiServer } from "../../src/api/server.ts";
import { FakeBackend } from "./fake-backend.ts";

export interface Harness {
  readonly server: ApiServer;
  readonly backend: FakeBackend;
  /** Error-level log lines the server wrote (parsed JSON). */
  readonly errorLogs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startHarness(limits: Partial<ApiLimits> = {}): Promise<Harness> {
  const backend = new FakeBackend();
  const errorLogs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: "error" },
    { write: (line: string) => void errorLogs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const server = await startApiServer({ backend, port: 0, logger, limits });
  return { server, backend, errorLogs, close: () => server.close({ graceMs: 200 }) };
}

/** Polls `cond` until it holds or `timeoutMs` passes (no fixed sleeps in tests). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const b64 = (s: string): string => Buffer.from(s).toString("base64");
export const unb64 = (s: string): string => Buffer.from(s, "base64").toString();
