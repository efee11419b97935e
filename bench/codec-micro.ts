// Per-call cost of the client port's put codec: protobuf-es's reflective
// fromBinary / create + toBinary against the hand-written codec in
// src/api/fast-codec.ts (what a put pays on the member that serves it).
//   node --import tsx bench/codec-micro.ts [calls=300000]

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { decodePutRequest, encodePutResponse } from "../src/api/fast-codec.ts";
import {
  PutRequestSchema,
  type PutResponse,
  PutResponseSchema,
  ResponseHeaderSchema,
} from "../src/api/gen/etcdserverpb/rpc_pb.ts";

const N = Number(process.argv[2] ?? 300_000);
const request = toBinary(
  PutRequestSchema,
  create(PutRequestSchema, { key: Buffer.alloc(16, 97), value: Buffer.alloc(256, 98) }),
);
const h = { clusterId: 0xfedcba9876543210n, memberId: 0x1234567890abcdefn, revision: 123_456n, raftTerm: 5n };

function bench(name: string, f: () => unknown): void {
  for (let i = 0; i < 20_000; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) f();
  console.log(`${name.padEnd(48)} ${(((performance.now() - t0) * 1000) / N).toFixed(3)} µs`);
}

for (let round = 1; round <= 2; round++) {
  console.log(`round ${round}`);
  bench("PutRequest: fromBinary", () => fromBinary(PutRequestSchema, request));
  bench("PutRequest: decodePutRequest", () => decodePutRequest(request));
  bench("PutResponse: create + toBinary", () =>
    toBinary(PutResponseSchema, create(PutResponseSchema, { header: create(ResponseHeaderSchema, h) })),
  );
  bench("PutResponse: literal + encodePutResponse", () => {
    const m: PutResponse = {
      $typeName: "etcdserverpb.PutResponse",
      header: { $typeName: "etcdserverpb.ResponseHeader", ...h },
    };
    return encodePutResponse(m);
  });
}
