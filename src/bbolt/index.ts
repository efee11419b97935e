// bbolt files: the on-disk format of go.etcd.io/bbolt, which etcd uses for its backend (member/snap/db)
// and for `etcdctl snapshot save` files. writeBolt and readBolt are byte-compatible with Go's bbolt on
// little-endian machines (amd64, arm64); test/bbolt/go-crosscheck.test.ts checks both directions with Go.
//
// The format: the file is a sequence of fixed-size pages (page size from the meta, 4096 by default), each
// starting with a 16-byte header {id u64, flags u16, count u16, overflow u32}; a node bigger than a page
// takes `overflow` more pages right after it. Pages 0 and 1 are meta pages {magic 0xED0CDAED, version 2,
// pageSize, flags, root bucket {root pgid, sequence}, freelist pgid, pgid (high water mark: pages in use),
// txid, checksum FNV-64a of the meta before it}; a transaction with id t writes meta page t % 2, and an
// opener uses the valid meta with the higher txid. Every bucket is a B+tree of branch pages (elements
// {pos u32, ksize u32, pgid u64}, key = first key of the child) and leaf pages (elements {flags u32, pos u32,
// ksize u32, vsize u32}); pos counts from the element itself and the keys and values follow all the
// elements. The root bucket (the meta's) lists the top-level buckets: leaf elements with flag 0x01 whose value
// is {root pgid u64, sequence u64}, and for a small "inline" bucket root 0 and its one leaf page right after.
// The freelist page lists the free page ids (count 0xFFFF: the real count is the first u64).
//
// writeBolt builds each bucket's tree bottom-up from its sorted entries: leaves filled up to the page size (a
// single element bigger than a page gets a page with overflow pages), branch levels above until one root page;
// a bucket whose single leaf would take at most a quarter page is written inline, as bbolt itself does. The
// two metas hold the same tree with txids txid and txid-1. It does not write nested buckets, bucket sequences
// (always 0), free pages (the freelist page is empty and every page below the high water mark is used) or
// spare room at the end of the file (it is exactly `high water mark` pages long, like a bbolt snapshot).
//
// readBolt picks the meta as bbolt does, then walks the root bucket and every bucket's tree, checking that
// pages are in range and referenced once, have the expected type and id, elements fit in their pages and keys
// ascend. It reads inline buckets and overflow pages, ignores free pages and bucket sequences, and rejects
// nested buckets. Like bbolt, a meta whose checksum field is 0 is not checksummed.

export { BoltError, looksLikeBolt } from "./format.ts";
export { readBolt } from "./reader.ts";
export { type BoltBucket, type WriteBoltOptions, writeBolt } from "./writer.ts";
