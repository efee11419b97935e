// Leases (TTL counting down, attached keys, revoke) and alarms (disarm).
import { useEffect, useState } from "preact/hooks";
import { call, showKey, unb64 } from "./api.ts";

interface LeaseRow {
  id: string;
  ttl: number;
  granted: number;
  keys: string[];
  /** When ttl was read (ms): the countdown runs from here. */
  at: number;
}

const MAX_LEASES = 200;

async function loadLeases(): Promise<{ rows: LeaseRow[]; total: number }> {
  const r = await call<{ leases?: { ID?: string }[] }>("/v3/lease/leases", {});
  const ids = (r.leases ?? []).map((l) => l.ID ?? "0");
  const rows = await Promise.all(
    ids.slice(0, MAX_LEASES).map(async (id) => {
      const t = await call<{ TTL?: string; grantedTTL?: string; keys?: string[] }>("/v3/lease/timetolive", {
        ID: id,
        keys: true,
      });
      return {
        id,
        ttl: Number(t.TTL ?? -1),
        granted: Number(t.grantedTTL ?? 0),
        keys: (t.keys ?? []).map((k) => showKey(unb64(k))),
        at: Date.now(),
      };
    }),
  );
  return { rows: rows.filter((l) => l.ttl >= 0), total: ids.length };
}

export function Leases({ onError }: { onError: (e: unknown) => void }) {
  const [leases, setLeases] = useState<{ rows: LeaseRow[]; total: number } | undefined>(undefined);
  const [now, setNow] = useState(Date.now());
  const [n, setN] = useState(0);
  useEffect(() => {
    loadLeases().then(setLeases, onError);
    const refresh = setInterval(() => loadLeases().then(setLeases, onError), 5000);
    return () => clearInterval(refresh);
  }, [n]);
  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);
  const revoke = async (id: string) => {
    if (!confirm(`Revoke lease ${BigInt(id).toString(16)}? Its keys are deleted.`)) return;
    try {
      await call("/v3/lease/revoke", { ID: id });
      setN((x) => x + 1);
    } catch (e) {
      onError(e);
    }
  };
  return (
    <section>
      <h2>Leases {leases ? `(${leases.total})` : ""}</h2>
      {leases === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <table class="leases">
          <thead>
            <tr>
              <th>lease</th>
              <th class="num">TTL left</th>
              <th class="num">granted</th>
              <th>keys</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {leases.rows.map((l) => {
              const left = Math.max(0, l.ttl - Math.floor((now - l.at) / 1000));
              return (
                <tr key={l.id} data-lease={BigInt(l.id).toString(16)}>
                  <td>{BigInt(l.id).toString(16)}</td>
                  <td class={`num ${left <= 2 ? "warn" : ""}`}>{left} s</td>
                  <td class="num">{l.granted} s</td>
                  <td class="clip">{l.keys.length === 0 ? "none" : l.keys.join(", ")}</td>
                  <td>
                    <button type="button" class="danger" onClick={() => revoke(l.id)}>
                      revoke
                    </button>
                  </td>
                </tr>
              );
            })}
            {leases.rows.length === 0 ? (
              <tr>
                <td colSpan={5} class="muted">
                  no leases
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      )}
      {leases && leases.total > MAX_LEASES ? <p class="muted">Showing the first {MAX_LEASES}.</p> : null}
    </section>
  );
}

interface Alarm {
  memberID?: string;
  alarm?: string;
}

export function Alarms({ onError }: { onError: (e: unknown) => void }) {
  const [alarms, setAlarms] = useState<Alarm[] | undefined>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    const load = () =>
      call<{ alarms?: Alarm[] }>("/v3/maintenance/alarm", { action: "GET" }).then(
        (r) => setAlarms(r.alarms ?? []),
        onError,
      );
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [n]);
  const disarm = async (a: Alarm) => {
    if (!confirm(`Disarm ${a.alarm} on member ${BigInt(a.memberID ?? "0").toString(16)}?`)) return;
    try {
      await call("/v3/maintenance/alarm", { action: "DEACTIVATE", memberID: a.memberID, alarm: a.alarm });
      setN((x) => x + 1);
    } catch (e) {
      onError(e);
    }
  };
  return (
    <section>
      <h2>Alarms</h2>
      {alarms === undefined ? (
        <p class="muted">Loading…</p>
      ) : alarms.length === 0 ? (
        <p class="ok-text">No active alarms.</p>
      ) : (
        <table>
          <tbody>
            {alarms.map((a) => (
              <tr key={`${a.memberID}-${a.alarm}`} class="alarm">
                <td>{BigInt(a.memberID ?? "0").toString(16)}</td>
                <td>{a.alarm}</td>
                <td>
                  <button type="button" class="danger" onClick={() => disarm(a)}>
                    disarm
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
