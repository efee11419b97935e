// Client verbs (`floe get|put|del|txn|watch|lease`) over the etcd v3 gRPC API,
// so they work against floe and etcd alike.

import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Command } from "commander";
import { KV, Lease, Watch } from "../api/gen/etcdserverpb/rpc_pb.ts";
import { prefixEnd } from "../mvcc/index.ts";
import { formatTxn, readTxn } from "./txn.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function transport(endpoints: string) {
  const first = endpoints.split(",")[0].trim();
  const baseUrl = /^https?:\/\//.test(first) ? first : `http://${first}`;
  return createGrpcTransport({ baseUrl });
}

function rangeOf(key: string, prefix: boolean): { key: Uint8Array; rangeEnd: Uint8Array } {
  const k = enc.encode(key);
  return { key: k, rangeEnd: prefix ? prefixEnd(k) : new Uint8Array() };
}

export async function runClient(argv: string[]): Promise<void> {
  const program = new Command("floe")
    .option(
      "--endpoints <list>",
      "comma-separated client URLs",
      process.env.FLOE_ENDPOINTS ?? "127.0.0.1:2379",
    )
    .showHelpAfterError();
  const ep = (): string => program.opts<{ endpoints: string }>().endpoints;

  program
    .command("put <key> <value>")
    .description("write a key")
    .option("--lease <id>", "attach to a lease (hex id, as etcdctl prints it)")
    .action(async (key: string, value: string, o: { lease?: string }) => {
      const kv = createClient(KV, transport(ep()));
      await kv.put({
        key: enc.encode(key),
        value: enc.encode(value),
        lease: o.lease ? BigInt(`0x${o.lease}`) : 0n,
      });
      console.log("OK");
    });

  program
    .command("get <key>")
    .description("read a key or a prefix")
    .option("--prefix", "every key with this prefix")
    .option("--limit <n>", "at most n keys", "0")
    .option("--rev <n>", "read at this revision", "0")
    .option("--keys-only", "print keys only")
    .option("--serializable", "read locally, without a ReadIndex round")
    .action(
      async (
        key: string,
        o: { prefix?: boolean; limit: string; rev: string; keysOnly?: boolean; serializable?: boolean },
      ) => {
        const kv = createClient(KV, transport(ep()));
        const r = await kv.range({
          ...rangeOf(key, o.prefix === true),
          limit: BigInt(o.limit),
          revision: BigInt(o.rev),
          keysOnly: o.keysOnly === true,
          serializable: o.serializable === true,
        });
        for (const item of r.kvs) {
          console.log(dec.decode(item.key));
          if (!o.keysOnly) console.log(dec.decode(item.value));
        }
      },
    );

  program
    .command("del <key>")
    .description("delete a key or a prefix")
    .option("--prefix", "every key with this prefix")
    .action(async (key: string, o: { prefix?: boolean }) => {
      const kv = createClient(KV, transport(ep()));
      const r = await kv.deleteRange(rangeOf(key, o.prefix === true));
      console.log(String(r.deleted));
    });

  program
    .command("txn")
    .description("a transaction read from stdin, in etcdctl's syntax (see src/cli/txn.ts)")
    .option("-i, --interactive", "prompt for each section, as etcdctl txn -i")
    .action(async (o: { interactive?: boolean }) => {
      const rl = createInterface({ input: process.stdin, terminal: false });
      const lines = rl[Symbol.asyncIterator]();
      let req: Awaited<ReturnType<typeof readTxn>>;
      try {
        req = await readTxn(
          async () => {
            const r = await lines.next();
            return r.done ? undefined : r.value;
          },
          (title) => {
            if (o.interactive) console.log(title);
          },
        );
      } finally {
        rl.close();
      }
      const r = await createClient(KV, transport(ep())).txn(req);
      process.stdout.write(formatTxn(r));
    });

  program
    .command("watch <key>")
    .description("print events for a key or prefix until interrupted")
    .option("--prefix", "every key with this prefix")
    .option("--rev <n>", "start at this revision", "0")
    .action(async (key: string, o: { prefix?: boolean; rev: string }) => {
      const w = createClient(Watch, transport(ep()));
      const create = { ...rangeOf(key, o.prefix === true), startRevision: BigInt(o.rev) };
      async function* requests() {
        yield { requestUnion: { case: "createRequest" as const, value: create } };
        await new Promise<void>(() => {}); // keep the stream open
      }
      for await (const resp of w.watch(requests())) {
        for (const ev of resp.events) {
          console.log(ev.type === 0 ? "PUT" : "DELETE");
          console.log(dec.decode(ev.kv?.key ?? new Uint8Array()));
          if (ev.type === 0) console.log(dec.decode(ev.kv?.value ?? new Uint8Array()));
        }
        if (resp.canceled) {
          console.error(`watch canceled${resp.cancelReason ? `: ${resp.cancelReason}` : ""}`);
          return;
        }
      }
    });

  const lease = program.command("lease").description("lease grant|revoke|ttl");
  lease.command("grant <ttl>").action(async (ttl: string) => {
    const r = await createClient(Lease, transport(ep())).leaseGrant({ TTL: BigInt(ttl) });
    console.log(`lease ${r.ID.toString(16).padStart(16, "0")} granted with TTL(${r.TTL}s)`);
  });
  lease.command("revoke <id>").action(async (id: string) => {
    await createClient(Lease, transport(ep())).leaseRevoke({ ID: BigInt(`0x${id}`) });
    console.log(`lease ${id} revoked`);
  });
  lease.command("ttl <id>").action(async (id: string) => {
    const r = await createClient(Lease, transport(ep())).leaseTimeToLive({
      ID: BigInt(`0x${id}`),
      keys: true,
    });
    const keys = r.keys.map((k) => dec.decode(k)).join(",");
    console.log(
      `lease ${id} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s), attached keys([${keys}])`,
    );
  });

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    process.stderr.write(`floe: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
