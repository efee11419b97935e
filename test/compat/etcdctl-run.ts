// Runs Debian's etcdctl (API v3) against an endpoint, for the compat tier.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";

export interface EtcdctlResult {
  code: number;
  out: string;
  err: string;
}

export function etcdctlAt(at: string, args: string[], input?: string): Promise<EtcdctlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      "etcdctl",
      [`--endpoints=${at}`, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** etcdctl's stdout; fails the test on a non-zero exit. */
export async function okAt(at: string, args: string[], input?: string): Promise<string> {
  const r = await etcdctlAt(at, args, input);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.err}`);
  return r.out;
}

/** Retries `args` until etcdctl succeeds (a member still starting), for up to ~10 s. */
export async function okWhenUp(at: string, args: string[]): Promise<string> {
  let r = await etcdctlAt(at, ["--command-timeout=2s", ...args]);
  for (let i = 0; i < 40 && r.code !== 0; i++) {
    await new Promise((res) => setTimeout(res, 250));
    r = await etcdctlAt(at, ["--command-timeout=2s", ...args]);
  }
  assert.equal(r.code, 0, r.err);
  return r.out;
}
