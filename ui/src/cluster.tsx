// The cluster view: every member's state from the latest sample, and charts
// of the last minutes from the samples the page holds.
import { useMemo, useState } from "preact/hooks";
import type { MemberSample, Sample } from "../../src/api/ui-types.ts";
import { bytes, Chart, fmt } from "./chart.tsx";

const ROLE_LABEL: Record<MemberSample["role"], string> = {
  leader: "leader",
  follower: "follower",
  learner: "learner",
  unknown: "no leader",
};

export function MemberTable({ sample }: { sample: Sample | undefined }) {
  if (sample === undefined) return <p class="muted">Waiting for the first sample…</p>;
  return (
    <table class="members">
      <thead>
        <tr>
          <th>member</th>
          <th>role</th>
          <th>health</th>
          <th class="num">term</th>
          <th class="num">commit</th>
          <th class="num">applied</th>
          <th class="num">lag</th>
          <th class="num">db size</th>
          <th class="num">keys</th>
          <th class="num">writes/s</th>
          <th class="num">CPU</th>
          <th>client URLs</th>
          <th>peer URLs</th>
          <th>last error</th>
        </tr>
      </thead>
      <tbody>
        {sample.members.map((m) => (
          <tr
            key={m.id}
            class={`member ${m.up ? "up" : "down"} ${m.role === "leader" && m.up ? "leader" : ""}`}
            data-member={m.name}
            data-role={m.up ? m.role : "down"}
          >
            <td>
              <strong>{m.name || "(unstarted)"}</strong>
              <div class="id">{m.id}</div>
              {m.id === sample.servedBy ? <div class="tag">serving this page</div> : null}
            </td>
            <td>{m.up ? ROLE_LABEL[m.role] : "–"}</td>
            <td>
              <span class={`dot ${m.up ? "ok" : "bad"}`} /> {m.up ? "healthy" : "not answering"}
            </td>
            <td class="num">{m.up ? m.term : "–"}</td>
            <td class="num">{m.up ? m.commit : "–"}</td>
            <td class="num">{m.up ? m.applied : "–"}</td>
            <td class={`num ${m.lag > 1000 ? "warn" : ""}`}>{m.up ? m.lag : "–"}</td>
            <td class="num">{m.up ? bytes(m.dbSize) : "–"}</td>
            <td class="num">{m.up ? m.keys : "–"}</td>
            <td class="num" data-col="writes">
              {m.up ? fmt(m.rates.writes) : "–"}
            </td>
            <td class="num">{m.up ? `${fmt(m.rates.cpu)}%` : "–"}</td>
            <td class="urls">{m.clientUrls.join(", ")}</td>
            <td class="urls">{m.peerUrls.join(", ")}</td>
            <td class="error">{m.error}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Pick = (m: MemberSample) => number;

const CHARTS: { title: string; unit: string; pick: Pick }[] = [
  { title: "writes/s", unit: "", pick: (m) => m.rates.writes },
  { title: "reads/s", unit: "", pick: (m) => m.rates.reads },
  { title: "request latency p50", unit: " ms", pick: (m) => m.latency.p50 },
  { title: "request latency p99", unit: " ms", pick: (m) => m.latency.p99 },
  { title: "WAL fsync p99", unit: " ms", pick: (m) => m.latency.fsyncP99 },
  { title: "proposals committed/s", unit: "", pick: (m) => m.rates.committed },
  { title: "proposals failed/s", unit: "", pick: (m) => m.rates.failed },
  { title: "leader changes seen", unit: "", pick: (m) => m.leaderChanges },
  { title: "watchers", unit: "", pick: (m) => m.watchers },
  { title: "watch events/s", unit: "", pick: (m) => m.rates.watchEvents },
  { title: "member CPU", unit: "%", pick: (m) => m.rates.cpu },
];

export function Charts({ samples }: { samples: Sample[] }) {
  const [minutes, setMinutes] = useState(5);
  const shown = useMemo(() => {
    const from = Date.now() - minutes * 60_000;
    return samples.filter((s) => s.time >= from);
  }, [samples, minutes]);
  const members = useMemo(() => {
    const seen = new Map<string, string>();
    for (const s of shown) for (const m of s.members) seen.set(m.id, m.name || m.id);
    return [...seen];
  }, [shown]);
  const series = useMemo(
    () =>
      CHARTS.map((c) => {
        const xs = shown.map((s) => s.time / 1000);
        const ys = members.map(([id]) =>
          shown.map((s) => {
            const m = s.members.find((x) => x.id === id);
            if (m === undefined || !m.up) return null;
            const v = c.pick(m);
            return Number.isFinite(v) ? v : null;
          }),
        );
        return { ...c, data: [xs, ...ys] };
      }),
    [shown, members],
  );
  return (
    <section>
      <div class="toolbar">
        <h2>Last {minutes} minutes</h2>
        {[5, 10, 15].map((n) => (
          <button type="button" class={n === minutes ? "on" : ""} onClick={() => setMinutes(n)}>
            {n} min
          </button>
        ))}
      </div>
      <div class="charts">
        {series.map((c) => (
          <Chart
            key={c.title}
            title={c.title}
            unit={c.unit}
            labels={members.map(([, name]) => name)}
            data={c.data}
          />
        ))}
      </div>
    </section>
  );
}
