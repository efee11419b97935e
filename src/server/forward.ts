// Forwarding of lease requests that only the leader can answer (its lessor
// keeps lease time): a follower relays KeepAlive and TimeToLive to the
// leader's client URL over gRPC, as etcd does, so clients may talk to any
// member. Connections are cached per leader URL.

import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { errorFromMessage, FloeError } from "../api/errors.ts";
import * as pb from "../api/gen/etcdserverpb/rpc_pb.ts";

export class LeaderForwarder {
  private readonly clients = new Map<string, Client<typeof pb.Lease>>();

  constructor(private readonly timeoutMs: number) {}

  private client(url: string): Client<typeof pb.Lease> {
    let c = this.clients.get(url);
    if (!c) {
      c = createClient(pb.Lease, createGrpcTransport({ baseUrl: url }));
      this.clients.set(url, c);
    }
    return c;
  }

  private static rethrow(e: unknown): never {
    if (e instanceof ConnectError) {
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
      for await (const r of this.client(url).leaseKeepAlive(one, { signal })) return r;
    } catch (e) {
      LeaderForwarder.rethrow(e);
    }
    throw FloeError.of("NO_LEADER", "the leader closed the keepalive stream without an answer");
  }

  async timeToLive(url: string, req: pb.LeaseTimeToLiveRequest): Promise<pb.LeaseTimeToLiveResponse> {
    try {
      return await this.client(url).leaseTimeToLive(req, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      return LeaderForwarder.rethrow(e);
    }
  }
}
