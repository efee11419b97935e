// Forwarding of lease requests that only the leader can answer (its lessor
// keeps lease time): a follower relays KeepAlive and TimeToLive to the
// leader's client URL over gRPC, as etcd does, so clients may talk to any
// member. Connections are cached per leader URL.

import type { Client } from "@connectrpc/connect";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";
import { errorFromMessage, FloeError } from "../api/index.ts";

// The gRPC client library is loaded on the first forward, not at start-up:
// a member that is leader, or whose clients talk to the leader, never needs it.
type Connect = typeof import("@connectrpc/connect");
type ConnectNode = typeof import("@connectrpc/connect-node");
let libraries: Promise<{ connect: Connect; node: ConnectNode }> | undefined;
const loadClientLibraries = () =>
  (libraries ??= Promise.all([import("@connectrpc/connect"), import("@connectrpc/connect-node")]).then(
    ([connect, node]) => ({ connect, node }),
  ));

/** How a follower relays the lease calls only the leader answers: to the leader's client URL. */
export interface LeaseRelay {
  keepAlive(url: string, req: pb.LeaseKeepAliveRequest): Promise<pb.LeaseKeepAliveResponse>;
  /** `token`: the client's auth token, so the leader checks the same user's permissions. */
  timeToLive(
    url: string,
    req: pb.LeaseTimeToLiveRequest,
    token?: string,
  ): Promise<pb.LeaseTimeToLiveResponse>;
}

export class LeaderForwarder implements LeaseRelay {
  private readonly clients = new Map<string, Client<typeof pb.Lease>>();

  constructor(private readonly timeoutMs: number) {}

  private async client(url: string): Promise<Client<typeof pb.Lease>> {
    const { connect, node } = await loadClientLibraries();
    let c = this.clients.get(url);
    if (!c) {
      c = connect.createClient(pb.Lease, node.createGrpcTransport({ baseUrl: url }));
      this.clients.set(url, c);
    }
    return c;
  }

  private static async rethrow(e: unknown): Promise<never> {
    const { connect } = await loadClientLibraries();
    if (e instanceof connect.ConnectError) {
      // The leader answered with an etcd error: pass its message on unchanged.
      const known = errorFromMessage(e.rawMessage);
      if (known) throw new FloeError(known);
    }
    throw FloeError.of("NO_LEADER", `forwarding to the leader failed: ${(e as Error).message}`);
  }

  async keepAlive(url: string, req: pb.LeaseKeepAliveRequest): Promise<pb.LeaseKeepAliveResponse> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const one = (async function* () {
        yield req;
      })();
      for await (const r of (await this.client(url)).leaseKeepAlive(one, { signal })) return r;
    } catch (e) {
      await LeaderForwarder.rethrow(e);
    }
    throw FloeError.of("NO_LEADER", "the leader closed the keepalive stream without an answer");
  }

  /** `token`: the client's auth token, so the leader checks the same user's permissions. */
  async timeToLive(
    url: string,
    req: pb.LeaseTimeToLiveRequest,
    token?: string,
  ): Promise<pb.LeaseTimeToLiveResponse> {
    try {
      const client = await this.client(url);
      const headers = token === undefined || token === "" ? undefined : { token };
      return await client.leaseTimeToLive(req, { signal: AbortSignal.timeout(this.timeoutMs), headers });
    } catch (e) {
      return LeaderForwarder.rethrow(e);
    }
  }
}
