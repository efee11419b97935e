// boltcheck: the Go side of floe's bbolt cross-check (test/bbolt/go-crosscheck.test.ts).
//
//	boltcheck dump FILE          open FILE read-only with go.etcd.io/bbolt, run tx.Check() and print
//	                             {"errors":[...],"buckets":[{"name":hex,"entries":[[khex,vhex],...]}],"stats":{...}}
//	boltcheck apply FILE SPEC    open (or create) FILE read-write and run the transactions of SPEC, a JSON file
//	                             {"pageSize":4096,"txs":[[["put",bucket,key,value],["del",bucket,key],
//	                             ["mkbucket",bucket],["delbucket",bucket]],...]} (all byte strings in hex);
//	                             "put" creates the bucket when it is missing.
//
// Build: GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= go build -o /tmp/boltcheck ./test/bbolt/go
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

type bucketDump struct {
	Name    string      `json:"name"`
	Entries [][2]string `json:"entries"`
	Nested  []string    `json:"nested,omitempty"`
}

type stats struct {
	PageSize      int `json:"pageSize"`
	Txid          int `json:"txid"`
	Size          int `json:"size"`
	FreePages     int `json:"freePages"`
	PendingPages  int `json:"pendingPages"`
	BranchPages   int `json:"branchPages"`
	LeafPages     int `json:"leafPages"`
	OverflowPages int `json:"overflowPages"`
	InlineBuckets int `json:"inlineBuckets"`
	MaxDepth      int `json:"maxDepth"`
}

type dump struct {
	Errors  []string     `json:"errors"`
	Buckets []bucketDump `json:"buckets"`
	Stats   stats        `json:"stats"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "boltcheck: "+format+"\n", args...)
	os.Exit(1)
}

func doDump(path string) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		fail("open %s: %v", path, err)
	}
	defer db.Close()
	out := dump{Errors: []string{}, Buckets: []bucketDump{}}
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			out.Errors = append(out.Errors, e.Error())
		}
		out.Stats.PageSize = db.Info().PageSize
		out.Stats.Txid = tx.ID()
		out.Stats.Size = int(tx.Size())
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			bd := bucketDump{Name: hex.EncodeToString(name), Entries: [][2]string{}}
			if err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					bd.Nested = append(bd.Nested, hex.EncodeToString(k))
					return nil
				}
				bd.Entries = append(bd.Entries, [2]string{hex.EncodeToString(k), hex.EncodeToString(v)})
				return nil
			}); err != nil {
				return err
			}
			s := b.Stats()
			out.Stats.BranchPages += s.BranchPageN
			out.Stats.LeafPages += s.LeafPageN
			out.Stats.OverflowPages += s.BranchOverflowN + s.LeafOverflowN
			out.Stats.InlineBuckets += s.InlineBucketN
			if s.Depth > out.Stats.MaxDepth {
				out.Stats.MaxDepth = s.Depth
			}
			out.Buckets = append(out.Buckets, bd)
			return nil
		})
	})
	if err != nil {
		fail("view %s: %v", path, err)
	}
	// Check loaded the freelist (read-only databases load it lazily).
	st := db.Stats()
	out.Stats.FreePages = st.FreePageN
	out.Stats.PendingPages = st.PendingPageN
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail("encode: %v", err)
	}
}

type spec struct {
	PageSize int          `json:"pageSize"`
	Txs      [][][]string `json:"txs"`
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		fail("bad hex %q: %v", s, err)
	}
	return b
}

func doApply(path, specPath string) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		fail("read spec: %v", err)
	}
	var sp spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		fail("parse spec: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: sp.PageSize})
	if err != nil {
		fail("open %s: %v", path, err)
	}
	for i, ops := range sp.Txs {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, op := range ops {
				if len(op) < 2 {
					return fmt.Errorf("short op %v", op)
				}
				name := unhex(op[1])
				switch op[0] {
				case "put":
					b, err := tx.CreateBucketIfNotExists(name)
					if err != nil {
						return err
					}
					if err := b.Put(unhex(op[2]), unhex(op[3])); err != nil {
						return err
					}
				case "del":
					b := tx.Bucket(name)
					if b == nil {
						return fmt.Errorf("no bucket %x", name)
					}
					if err := b.Delete(unhex(op[2])); err != nil {
						return err
					}
				case "mkbucket":
					if _, err := tx.CreateBucketIfNotExists(name); err != nil {
						return err
					}
				case "delbucket":
					if err := tx.DeleteBucket(name); err != nil {
						return err
					}
				default:
					return fmt.Errorf("unknown op %q", op[0])
				}
			}
			return nil
		})
		if err != nil {
			fail("tx %d: %v", i, err)
		}
	}
	if err := db.Close(); err != nil {
		fail("close: %v", err)
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "dump" {
		doDump(os.Args[2])
	} else if len(os.Args) == 4 && os.Args[1] == "apply" {
		doApply(os.Args[2], os.Args[3])
	} else {
		fail("usage: boltcheck dump FILE | boltcheck apply FILE SPEC.json")
	}
}
