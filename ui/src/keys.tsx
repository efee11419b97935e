// The key browser: the key space as a tree split at "/", listed a page at a
// time by skipping over each child prefix (so a directory of a million keys
// costs one request, not a million rows); a key's value, metadata and
// history; create, edit and delete; and a live watch tail on a prefix.
import { useEffect, useState } from "preact/hooks";
import {
  ApiError,
  b64,
  bytesOf,
  call,
  hexDump,
  type KeyValue,
  prefixEnd,
  type RangeResponse,
  showKey,
  stream,
  textOf,
  unb64,
  type WatchResponse,
} from "./api.ts";

const PAGE = 50;
const BATCH = 200;

interface Child {
  /** Full key (a key) or full prefix ending in "/" (a directory). */
  bytes: string;
  dir: boolean;
}

/** Up to PAGE children of `prefix` from `cursor` on, and the cursor after them (undefined: no more). */
async function listChildren(prefix: string, cursor: string): Promise<{ children: Child[]; next?: string }> {
  const end = prefix === "" ? "\0" : prefixEnd(prefix);
  const children: Child[] = [];
  let from = cursor;
  for (;;) {
    const r = await call<RangeResponse>("/v3/kv/range", {
      key: b64(from === "" ? "\0" : from),
      range_end: b64(end),
      limit: String(BATCH),
      keys_only: true,
    });
    const kvs = r.kvs ?? [];
    if (kvs.length === 0) return { children };
    let jumped = false;
    for (const kv of kvs) {
      const key = unb64(kv.key);
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf("/");
      if (children.length === PAGE) return { children, next: key };
      if (slash >= 0) {
        const dir = prefix + rest.slice(0, slash + 1);
        children.push({ bytes: dir, dir: true });
        // everything under the directory is one child: continue after it
        from = prefixEnd(dir);
        jumped = true;
        break;
      }
      children.push({ bytes: key, dir: false });
      from = `${key}\0`;
    }
    if (!jumped && !r.more) return { children };
  }
}

export function KeyBrowser({ onError }: { onError: (e: unknown) => void }) {
  const [prefix, setPrefix] = useState("");
  const [pages, setPages] = useState<Child[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [creating, setCreating] = useState(false);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let stale = false;
    listChildren(prefix, prefix)
      .then((r) => {
        if (stale) return;
        setPages(r.children);
        setNext(r.next);
      })
      .catch(onError);
    return () => {
      stale = true;
    };
  }, [prefix, reload]);

  const more = () => {
    if (next === undefined) return;
    listChildren(prefix, next)
      .then((r) => {
        setPages((p) => [...p, ...r.children]);
        setNext(r.next);
      })
      .catch(onError);
  };

  const parts = prefix.split("/").slice(0, -1);
  return (
    <div class="keys">
      <div class="tree">
        <div class="crumbs">
          <button type="button" class="link" onClick={() => setPrefix("")}>
            (all keys)
          </button>
          {parts.map((p, i) => (
            <>
              {" / "}
              <button
                type="button"
                class="link"
                onClick={() => {
                  setPrefix(`${parts.slice(0, i + 1).join("/")}/`);
                }}
              >
                {showKey(p) || "(empty)"}
              </button>
            </>
          ))}
        </div>
        <ul class="children">
          {pages.map((c) => (
            <li key={c.bytes} class={c.dir ? "dir" : "key"}>
              <button
                type="button"
                data-key={showKey(c.bytes)}
                class={`link ${selected === c.bytes ? "sel" : ""}`}
                onClick={() => {
                  if (c.dir) setPrefix(c.bytes);
                  else {
                    setSelected(c.bytes);
                    setCreating(false);
                  }
                }}
              >
                {showKey(c.bytes.slice(prefix.length)) || "(empty)"}
              </button>
            </li>
          ))}
          {pages.length === 0 ? <li class="muted">no keys here</li> : null}
        </ul>
        {next !== undefined ? (
          <button type="button" onClick={more}>
            more…
          </button>
        ) : null}
        <div class="toolbar">
          <button type="button" onClick={() => setReload((n) => n + 1)}>
            refresh
          </button>
          <button
            type="button"
            class="new-key"
            onClick={() => {
              setCreating(true);
              setSelected(undefined);
            }}
          >
            new key…
          </button>
        </div>
      </div>
      <div class="detail">
        {creating ? (
          <KeyEditor
            initialKey={prefix}
            onDone={(k) => {
              setCreating(false);
              if (k !== undefined) setSelected(k);
              setReload((n) => n + 1);
            }}
            onError={onError}
          />
        ) : selected !== undefined ? (
          <KeyDetail
            key={selected}
            keyBytes={selected}
            onDeleted={() => {
              setSelected(undefined);
              setReload((n) => n + 1);
            }}
            onError={onError}
          />
        ) : (
          <p class="muted">Select a key.</p>
        )}
        <WatchTail prefix={prefix} onEvents={() => setReload((n) => n + 1)} onError={onError} />
      </div>
    </div>
  );
}

type Shown = "text" | "json" | "hex";

function valueView(bytes: string, as: Shown): string {
  if (as === "hex") return hexDump(bytes);
  const text = textOf(bytes);
  if (text === undefined) return hexDump(bytes);
  if (as === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

function defaultView(bytes: string): Shown {
  const text = textOf(bytes);
  if (text === undefined) return "hex";
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null ? "json" : "text";
  } catch {
    return "text";
  }
}

function KeyDetail({
  keyBytes,
  onDeleted,
  onError,
}: {
  keyBytes: string;
  onDeleted: () => void;
  onError: (e: unknown) => void;
}) {
  const [kv, setKv] = useState<KeyValue | null | undefined>(undefined);
  const [shown, setShown] = useState<Shown>("text");
  const [editing, setEditing] = useState(false);
  const [history, setHistory] = useState<HistoryRow[] | undefined>(undefined);
  const [n, setN] = useState(0);

  useEffect(() => {
    call<RangeResponse>("/v3/kv/range", { key: b64(keyBytes) })
      .then((r) => {
        const found = r.kvs?.[0] ?? null;
        setKv(found);
        if (found) setShown(defaultView(unb64(found.value)));
      })
      .catch(onError);
  }, [keyBytes, n]);

  if (kv === undefined) return <p class="muted">Loading…</p>;
  if (kv === null) return <p class="muted">{showKey(keyBytes)} does not exist (any more).</p>;
  const value = unb64(kv.value);
  const del = async () => {
    if (!confirm(`Delete ${showKey(keyBytes)}?`)) return;
    try {
      await call("/v3/kv/deleterange", { key: b64(keyBytes) });
      onDeleted();
    } catch (e) {
      onError(e);
    }
  };
  if (editing) {
    return (
      <KeyEditor
        initialKey={keyBytes}
        initialValue={value}
        lease={kv.lease}
        fixedKey
        onDone={() => {
          setEditing(false);
          setN((x) => x + 1);
        }}
        onError={onError}
      />
    );
  }
  return (
    <div class="kv" data-key={showKey(keyBytes)}>
      <h3>{showKey(keyBytes)}</h3>
      <dl class="meta">
        <dt>create revision</dt>
        <dd>{kv.create_revision ?? "0"}</dd>
        <dt>mod revision</dt>
        <dd>{kv.mod_revision ?? "0"}</dd>
        <dt>version</dt>
        <dd>{kv.version ?? "0"}</dd>
        <dt>lease</dt>
        <dd>{kv.lease && kv.lease !== "0" ? BigInt(kv.lease).toString(16) : "none"}</dd>
        <dt>size</dt>
        <dd>{value.length} bytes</dd>
      </dl>
      <div class="toolbar">
        {(["text", "json", "hex"] as const).map((s) => (
          <button type="button" class={shown === s ? "on" : ""} onClick={() => setShown(s)}>
            {s}
          </button>
        ))}
        <span class="gap" />
        <button type="button" onClick={() => setEditing(true)}>
          edit
        </button>
        <button type="button" class="danger" onClick={del}>
          delete
        </button>
        <button
          type="button"
          class="history"
          onClick={() => loadHistory(keyBytes, Number(kv.mod_revision ?? 0)).then(setHistory, onError)}
        >
          history
        </button>
      </div>
      <pre class="value">{valueView(value, shown)}</pre>
      {history !== undefined ? <History rows={history} /> : null}
    </div>
  );
}

interface HistoryRow {
  revision: string;
  type: "PUT" | "DELETE";
  version: string;
  value: string;
}

/**
 * Every version of a key kept since the compaction point: a watch on the key
 * from revision 1 (or from the compaction point, when the member says that
 * one is gone), read until the key's current modification.
 */
async function loadHistory(key: string, upTo: number): Promise<HistoryRow[]> {
  const rows: HistoryRow[] = [];
  let start = "1";
  for (let attempt = 0; attempt < 3; attempt++) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    let compacted: string | undefined;
    try {
      for await (const r of stream<WatchResponse>(
        "/v3/watch",
        { create_request: { key: b64(key), start_revision: start } },
        ctl.signal,
      )) {
        if (r.compact_revision && r.compact_revision !== "0") {
          compacted = r.compact_revision;
          break;
        }
        for (const ev of r.events ?? []) {
          rows.push({
            revision: ev.kv?.mod_revision ?? "?",
            type: ev.type ?? "PUT",
            version: ev.kv?.version ?? "0",
            value: unb64(ev.kv?.value),
          });
        }
        const last = rows[rows.length - 1];
        if (last !== undefined && Number(last.revision) >= upTo) break;
      }
    } catch (e) {
      if (!(e instanceof DOMException && e.name === "AbortError")) throw e;
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
    if (compacted === undefined) return rows.reverse();
    start = compacted;
  }
  return rows.reverse();
}

function History({ rows }: { rows: HistoryRow[] }) {
  return (
    <table class="history">
      <thead>
        <tr>
          <th class="num">revision</th>
          <th>event</th>
          <th class="num">version</th>
          <th>value</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.revision}>
            <td class="num">{r.revision}</td>
            <td>{r.type}</td>
            <td class="num">{r.type === "DELETE" ? "–" : r.version}</td>
            <td class="clip">
              {r.type === "DELETE" ? "" : (textOf(r.value) ?? `${r.value.length} bytes (binary)`)}
            </td>
          </tr>
        ))}
        {rows.length === 0 ? (
          <tr>
            <td colSpan={4} class="muted">
              no history kept before the compaction point
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

function KeyEditor(props: {
  initialKey: string;
  initialValue?: string;
  lease?: string | undefined;
  fixedKey?: boolean;
  onDone: (key?: string) => void;
  onError: (e: unknown) => void;
}) {
  const [key, setKey] = useState(showKey(props.initialKey));
  const [value, setValue] = useState(
    props.initialValue === undefined ? "" : (textOf(props.initialValue) ?? ""),
  );
  const [lease, setLease] = useState(
    props.lease && props.lease !== "0" ? BigInt(props.lease).toString(16) : "",
  );
  const binary = props.initialValue !== undefined && textOf(props.initialValue) === undefined;
  const save = async (e: Event) => {
    e.preventDefault();
    const k = props.fixedKey ? props.initialKey : bytesOf(key);
    if (k === "") return props.onError(new ApiError("a key must not be empty", 3, 400));
    if (!confirm(`${props.fixedKey ? "Change" : "Create"} ${showKey(k)}?`)) return;
    try {
      await call("/v3/kv/put", {
        key: b64(k),
        value: b64(bytesOf(value)),
        ...(lease.trim() !== "" ? { lease: BigInt(`0x${lease.trim()}`).toString() } : {}),
      });
      props.onDone(k);
    } catch (err) {
      props.onError(err);
    }
  };
  return (
    <form class="editor" onSubmit={save}>
      <h3>{props.fixedKey ? `Edit ${showKey(props.initialKey)}` : "New key"}</h3>
      {props.fixedKey ? null : (
        <label>
          key <input name="key" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
      )}
      {binary ? <p class="warn">The value is binary; saving replaces it with the text below.</p> : null}
      <label>
        value{" "}
        <textarea name="value" rows={8} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
      <label>
        lease (hex, optional){" "}
        <input name="lease" value={lease} onInput={(e) => setLease(e.currentTarget.value)} />
      </label>
      <div class="toolbar">
        <button type="submit">save</button>
        <button type="button" onClick={() => props.onDone()}>
          cancel
        </button>
      </div>
    </form>
  );
}

interface TailRow {
  n: number;
  revision: string;
  type: string;
  key: string;
  value: string;
}

function WatchTail({
  prefix,
  onEvents,
  onError,
}: {
  prefix: string;
  /** Told (at most once a second) that keys changed under the watched prefix. */
  onEvents: () => void;
  onError: (e: unknown) => void;
}) {
  const [on, setOn] = useState(false);
  const [watched, setWatched] = useState(prefix);
  const [rows, setRows] = useState<TailRow[]>([]);
  useEffect(() => {
    if (!on) setWatched(prefix);
  }, [prefix]);
  useEffect(() => {
    if (!on) return;
    const ctl = new AbortController();
    let n = 0;
    let told = 0;
    (async () => {
      const body = {
        create_request: {
          key: b64(watched === "" ? "\0" : watched),
          range_end: b64(watched === "" ? "\0" : prefixEnd(watched)),
        },
      };
      for await (const r of stream<WatchResponse>("/v3/watch", body, ctl.signal)) {
        if (r.canceled) throw new ApiError(r.cancel_reason || "watch canceled", -1, 200);
        const evs = (r.events ?? []).map((ev) => ({
          n: n++,
          revision: ev.kv?.mod_revision ?? "?",
          type: ev.type ?? "PUT",
          key: showKey(unb64(ev.kv?.key)),
          value: ev.type === "DELETE" ? "" : (textOf(unb64(ev.kv?.value)) ?? "(binary)"),
        }));
        if (evs.length === 0) continue;
        setRows((old) => [...evs.reverse(), ...old].slice(0, 200));
        if (Date.now() - told >= 1000) {
          told = Date.now();
          onEvents();
        }
      }
    })().catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === "AbortError")) {
        setOn(false);
        onError(e);
      }
    });
    return () => ctl.abort();
  }, [on, watched]);
  return (
    <section class="tail">
      <div class="toolbar">
        <h3>Watch</h3>
        <input
          name="watch-prefix"
          value={showKey(watched)}
          disabled={on}
          onInput={(e) => setWatched(bytesOf(e.currentTarget.value))}
          placeholder="prefix (empty: every key)"
        />
        <button type="button" class={on ? "on start" : "start"} onClick={() => setOn(!on)}>
          {on ? "stop" : "start"}
        </button>
        <button type="button" onClick={() => setRows([])}>
          clear
        </button>
      </div>
      <table class="events">
        <tbody>
          {rows.map((r) => (
            <tr key={r.n} data-key={r.key}>
              <td class="num">{r.revision}</td>
              <td>{r.type}</td>
              <td>{r.key}</td>
              <td class="clip">{r.value}</td>
            </tr>
          ))}
          {rows.length === 0 ? (
            <tr>
              <td class="muted">{on ? "watching; no events yet" : "not watching"}</td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </section>
  );
}
