// Operations, each behind a confirmation and each reporting its result: move
// the leadership, compact, defragment a member, download a member's snapshot.
import { useState } from "preact/hooks";
import type { Sample } from "../../src/api/ui-types.ts";
import { call, type Header, stream } from "./api.ts";
import { bytes } from "./chart.tsx";

interface Result {
  what: string;
  ok: boolean;
  text: string;
}

export function Operations({ sample }: { sample: Sample | undefined }) {
  const [results, setResults] = useState<Result[]>([]);
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<{ got: number; total: number } | undefined>(undefined);
  const members = sample?.members ?? [];
  const leader = members.find((m) => m.up && m.role === "leader");
  const report = (what: string, ok: boolean, text: string) =>
    setResults((r) => [{ what, ok, text }, ...r].slice(0, 20));

  async function run(what: string, question: string, f: () => Promise<string>) {
    if (!confirm(question)) return;
    setBusy(true);
    try {
      report(what, true, await f());
    } catch (e) {
      report(what, false, e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
      setProgress(undefined);
    }
  }

  const [target, setTarget] = useState("");
  const [defragOf, setDefragOf] = useState("");
  const [snapOf, setSnapOf] = useState("");
  const [rev, setRev] = useState("");
  const [physical, setPhysical] = useState(true);

  const moveLeader = () => {
    const to = members.find((m) => m.id === target);
    if (leader === undefined || to === undefined) return;
    run("move leader", `Move the leadership from ${leader.name} to ${to.name}?`, async () => {
      await call(
        "/v3/maintenance/transfer-leadership",
        { targetID: BigInt(`0x${to.id}`).toString() },
        leader.id,
      );
      return `${to.name} is the new leader`;
    });
  };

  const compact = () =>
    run(
      "compact",
      `Compact the key history up to revision ${rev || "(current)"}? Older versions are gone for good.`,
      async () => {
        let r = rev.trim();
        if (r === "") {
          const h = await call<{ header?: Header }>("/v3/kv/range", {
            key: btoa("\0"),
            limit: "1",
            keys_only: true,
          });
          r = h.header?.revision ?? "0";
        }
        await call("/v3/kv/compaction", { revision: r, physical });
        return `compacted up to revision ${r}`;
      },
    );

  const defrag = () => {
    const m = members.find((x) => x.id === defragOf);
    if (m === undefined) return;
    run("defragment", `Defragment ${m.name}? It stops serving while it rewrites its files.`, async () => {
      const before = m.dbSize;
      await call("/v3/maintenance/defragment", {}, m.id);
      return `${m.name} defragmented (database ${bytes(before)} before)`;
    });
  };

  const snapshot = () => {
    const m = members.find((x) => x.id === snapOf);
    if (m === undefined) return;
    run("snapshot", `Download a snapshot of ${m.name}?`, async () => {
      const parts: Uint8Array[] = [];
      let got = 0;
      const ctl = new AbortController();
      for await (const r of stream<{ blob?: string; remaining_bytes?: string }>(
        "/v3/maintenance/snapshot",
        {},
        ctl.signal,
        m.id,
      )) {
        const bin = atob(r.blob ?? "");
        const chunk = Uint8Array.from(bin, (c) => c.charCodeAt(0));
        parts.push(chunk);
        got += chunk.length;
        setProgress({ got, total: got + Number(r.remaining_bytes ?? 0) });
      }
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: "application/octet-stream" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `floe-${m.name}-${new Date().toISOString().replace(/[:.]/g, "-")}.db`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      return `snapshot of ${m.name}: ${bytes(got)}`;
    });
  };

  const pick = (
    value: string,
    set: (v: string) => void,
    name: string,
    filter = (_: (typeof members)[number]) => true,
  ) => (
    <select name={name} value={value} onChange={(e) => set(e.currentTarget.value)}>
      <option value="">choose a member</option>
      {members.filter(filter).map((m) => (
        <option value={m.id}>
          {m.name || m.id}
          {m.up ? "" : " (down)"}
        </option>
      ))}
    </select>
  );

  return (
    <section class="ops">
      <div class="op">
        <h3>Move leader</h3>
        <p class="muted">Current leader: {leader ? leader.name : "none"}</p>
        {pick(target, setTarget, "move-to", (m) => m.up && m.role === "follower")}
        <button type="button" name="move-leader" disabled={busy || !target || !leader} onClick={moveLeader}>
          move
        </button>
      </div>
      <div class="op">
        <h3>Compact</h3>
        <input
          name="compact-rev"
          placeholder="revision (empty: current)"
          value={rev}
          onInput={(e) => setRev(e.currentTarget.value)}
        />
        <label>
          <input type="checkbox" checked={physical} onChange={(e) => setPhysical(e.currentTarget.checked)} />{" "}
          wait until physically compacted
        </label>
        <button type="button" name="compact" disabled={busy} onClick={compact}>
          compact
        </button>
      </div>
      <div class="op">
        <h3>Defragment</h3>
        {pick(defragOf, setDefragOf, "defrag-of", (m) => m.up)}
        <button type="button" name="defrag" disabled={busy || !defragOf} onClick={defrag}>
          defragment
        </button>
      </div>
      <div class="op">
        <h3>Snapshot</h3>
        {pick(snapOf, setSnapOf, "snapshot-of", (m) => m.up)}
        <button type="button" name="snapshot" disabled={busy || !snapOf} onClick={snapshot}>
          download
        </button>
        {progress ? (
          <div class="progress">
            <progress value={progress.got} max={Math.max(1, progress.total)} /> {bytes(progress.got)} of{" "}
            {bytes(progress.total)}
          </div>
        ) : null}
      </div>
      <div class="results">
        <h3>Results</h3>
        {results.length === 0 ? <p class="muted">Nothing run yet.</p> : null}
        <ul>
          {results.map((r) => (
            <li class={r.ok ? "ok-text" : "bad-text"}>
              <strong>{r.what}</strong>: {r.text}
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}
