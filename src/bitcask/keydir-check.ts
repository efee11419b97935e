// The keydir's structural invariants, checked by tests after every kind of
// change: keys strictly increasing along the leaf chain, every key within its
// subtree's separator bounds, the chain linked both ways, every leaf at the
// same depth, no empty leaf but the root, stored prefixes equal to their keys'.

import { Leaf, type Node, prefix32 } from "./keydir-node.ts";

export function checkTree(root: Node, entries: number): void {
  const leaves: Leaf[] = [];
  collect(root, undefined, undefined, 0, leaves, { depth: -1 });
  let n = 0;
  let prev: Buffer | undefined;
  for (let k = 0; k < leaves.length; k++) {
    const leaf = leaves[k];
    if (leaf.next !== leaves[k + 1] || leaf.prev !== leaves[k - 1])
      throw new Error(`keydir: leaf ${k} badly linked`);
    if (leaf !== root && leaf.n === 0) throw new Error("keydir: empty non-root leaf");
    for (let i = 0; i < leaf.n; i++) {
      const key = leaf.copyKey(i);
      if (prev && Buffer.compare(prev, key) >= 0) throw new Error(`keydir: keys out of order at ${n}`);
      if (leaf.prefixAt(i) !== prefix32(key, 0, key.length)) throw new Error(`keydir: stale prefix at ${n}`);
      prev = key;
      n++;
    }
  }
  if (n !== entries) throw new Error(`keydir: walked ${n} keys, count says ${entries}`);
}

function collect(
  node: Node,
  lo: Buffer | undefined,
  hi: Buffer | undefined,
  depth: number,
  leaves: Leaf[],
  leafDepth: { depth: number },
): void {
  if (node instanceof Leaf) {
    if (leafDepth.depth === -1) leafDepth.depth = depth;
    if (leafDepth.depth !== depth)
      throw new Error(`keydir: leaves at depths ${leafDepth.depth} and ${depth}`);
    if (node.n > 0 && lo && node.compareAt(0, lo, 0, lo.length) < 0)
      throw new Error("keydir: key below its bound");
    if (node.n > 0 && hi && node.compareAt(node.n - 1, hi, 0, hi.length) >= 0) {
      throw new Error("keydir: key above its bound");
    }
    leaves.push(node);
    return;
  }
  if (node.children.length !== node.n + 1) throw new Error("keydir: inner node arity mismatch");
  for (let c = 0; c < node.n; c++) {
    const sep = node.copyKey(c);
    if (node.prefixAt(c) !== prefix32(sep, 0, sep.length)) throw new Error("keydir: stale separator prefix");
  }
  for (let c = 0; c < node.children.length; c++) {
    const clo = c === 0 ? lo : node.copyKey(c - 1);
    const chi = c === node.n ? hi : node.copyKey(c);
    collect(node.children[c], clo, chi, depth + 1, leaves, leafDepth);
  }
}
