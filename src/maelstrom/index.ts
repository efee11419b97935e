// maelstrom/: a Maelstrom lin-kv node on the member's runtime, and a runner
// that speaks Maelstrom's protocol without a JVM.

export { runMaelstromNode } from "./main.ts";
export { type Envelope, MaelstromNode, type NodeOptions } from "./node.ts";
