// Network namespaces for fault tests (root only): every member runs in its
// own namespace with its own network stack, joined to the test's namespace
// through a veth pair on one bridge (10.251.N.0/24). A member is cut off by
// setting its veth down on the bridge side: its peers and its clients then
// see packets vanish (connections hang, reconnects time out), as with a
// pulled cable, not the refused connections of the TCP proxy.
//
// This machine's kernel has no netem qdisc ("Specified qdisc kind is
// unknown") and the image has no iptables, so delay, loss and partitions
// finer than a whole member (a bridge) stay with the proxy (proxy.ts).

import { execFileSync } from "node:child_process";

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  const probe = `floe-probe-${process.pid}`;
  const link = `flp${(process.pid % 100_000).toString(36)}`;
  try {
    // what a run needs: a namespace, and a bridge and veth pairs in this one
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    ip("link", "add", link, "type", "veth", "peer", "name", `${link}p`);
    ip("link", "del", link);
    return undefined;
  } catch (e) {
    return `network namespaces or veth pairs do not work here: ${(e as Error).message.split("\n")[0]}`;
  }
}

export interface NetnsSlot {
  /** The namespace a member runs in (`ip netns exec <ns> ...`). */
  ns: string;
  /** Its address on the bridge. */
  host: string;
}

export class NetnsNetwork {
  private readonly tag: string;
  private readonly bridge: string;
  private readonly subnet: string;
  private readonly slots: { ns: string; hostSide: string }[] = [];
  private up = false;
  private static runs = 0;

  constructor() {
    // names stay within IFNAMSIZ (15); the subnet differs between concurrent runs
    const run = NetnsNetwork.runs++;
    this.tag = `${(process.pid % 100_000).toString(36)}${run.toString(36)}`;
    this.bridge = `flb${this.tag}`;
    this.subnet = `10.${251 - (run % 4)}.${process.pid % 250}`;
  }

  private setUp(): void {
    if (this.up) return;
    ip("link", "add", this.bridge, "type", "bridge");
    ip("addr", "add", `${this.subnet}.1/24`, "dev", this.bridge);
    ip("link", "set", this.bridge, "up");
    this.up = true;
    process.on("exit", this.teardownNow);
  }

  /** A new namespace on the bridge, for the next member. */
  add(): NetnsSlot {
    this.setUp();
    const i = this.slots.length + 1;
    const ns = `floe-${this.tag}-${i}`;
    const hostSide = `flh${this.tag}${i}`;
    const nsSide = `fln${this.tag}${i}`;
    const host = `${this.subnet}.${10 + i}`;
    ip("netns", "add", ns);
    this.slots.push({ ns, hostSide });
    ip("link", "add", hostSide, "type", "veth", "peer", "name", nsSide);
    ip("link", "set", nsSide, "netns", ns);
    ip("link", "set", hostSide, "master", this.bridge);
    ip("link", "set", hostSide, "up");
    ip("-n", ns, "addr", "add", `${host}/24`, "dev", nsSide);
    ip("-n", ns, "link", "set", nsSide, "up");
    ip("-n", ns, "link", "set", "lo", "up");
    return { ns, host };
  }

  /** Cuts the namespace off from everyone (members and clients). */
  isolate(ns: string): void {
    const s = this.slots.find((x) => x.ns === ns);
    if (!s) throw new Error(`no namespace ${ns}`);
    ip("link", "set", s.hostSide, "down");
  }

  /** Every link up again. */
  heal(): void {
    for (const s of this.slots) ip("link", "set", s.hostSide, "up");
  }

  /** Removes the namespaces, veths and the bridge (members must be stopped first). */
  readonly teardownNow = (): void => {
    for (const s of this.slots) {
      // deleting one end removes the pair at once (a namespace's own devices go asynchronously)
      for (const args of [
        ["link", "del", s.hostSide],
        ["netns", "del", s.ns],
      ]) {
        try {
          ip(...args);
        } catch {}
      }
    }
    this.slots.length = 0;
    if (this.up) {
      try {
        ip("link", "del", this.bridge);
      } catch {}
      this.up = false;
    }
    process.off("exit", this.teardownNow);
  };
}
