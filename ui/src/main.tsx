// The dashboard page: cluster, keys, leases and alarms, operations. Samples
// arrive over server-sent events from the member that served the page.
import "uplot/dist/uPlot.min.css";
import "./app.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Sample } from "../../src/api/ui-types.ts";
import { ApiError, login, setToken } from "./api.ts";
import { Charts, MemberTable } from "./cluster.tsx";
import { KeyBrowser } from "./keys.tsx";
import { Alarms, Leases } from "./leases.tsx";
import { Operations } from "./ops.tsx";

type View = "cluster" | "keys" | "leases" | "ops";
const VIEWS: [View, string][] = [
  ["cluster", "Cluster"],
  ["keys", "Keys"],
  ["leases", "Leases & alarms"],
  ["ops", "Operations"],
];
const KEEP = 900;

function useSamples(): { samples: Sample[]; connected: boolean } {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const es = new EventSource("/ui/api/events");
    es.addEventListener("open", () => setConnected(true));
    es.addEventListener("error", () => setConnected(false));
    es.addEventListener("history", (e) => setSamples(JSON.parse((e as MessageEvent).data) as Sample[]));
    es.addEventListener("sample", (e) => {
      const s = JSON.parse((e as MessageEvent).data) as Sample;
      setConnected(true);
      setSamples((old) => (old.length >= KEEP ? [...old.slice(old.length - KEEP + 1), s] : [...old, s]));
    });
    return () => es.close();
  }, []);
  return { samples, connected };
}

function Login({ onDone }: { onDone: (user: string) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [err, setErr] = useState("");
  return (
    <form
      class="login"
      onSubmit={(e) => {
        e.preventDefault();
        login(name, password).then(
          () => onDone(name),
          (x: unknown) => setErr(x instanceof Error ? x.message : String(x)),
        );
      }}
    >
      <h2>Sign in</h2>
      <p class="muted">This cluster has authentication enabled. The token stays in this page's memory.</p>
      <label>
        user{" "}
        <input
          name="user"
          autocomplete="username"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      <label>
        password{" "}
        <input
          name="password"
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      <button type="submit">sign in</button>
      {err ? <p class="bad-text">{err}</p> : null}
    </form>
  );
}

function App() {
  const fromHash = location.hash.slice(1) as View;
  const [view, setView] = useState<View>(VIEWS.some(([v]) => v === fromHash) ? fromHash : "cluster");
  const { samples, connected } = useSamples();
  const [error, setError] = useState("");
  const [needLogin, setNeedLogin] = useState(false);
  const [user, setUser] = useState<string | undefined>(undefined);
  /** The user this browser's client certificate names, if the member verified one. */
  const [certUser, setCertUser] = useState<string | undefined>(undefined);
  const latest = samples[samples.length - 1];
  const onError = (e: unknown) => {
    if (e instanceof ApiError && e.needsLogin) setNeedLogin(true);
    else setError(e instanceof Error ? e.message : String(e));
  };
  const go = (v: View) => {
    setView(v);
    history.replaceState(null, "", `#${v}`);
  };
  const serving = latest?.members.find((m) => m.id === latest.servedBy);
  const authOn = latest?.authEnabled === true;
  useEffect(() => {
    if (!authOn) return;
    fetch("/ui/api/whoami")
      .then((r) => r.json() as Promise<{ commonName: string | null }>)
      .then((w) => setCertUser(w.commonName ?? undefined))
      .catch(() => setCertUser(undefined));
  }, [authOn]);
  // with auth on, nothing but the cluster view is asked for before a login
  // (a verified client certificate is one: its CN is the user, as for the API)
  const mustLogin = needLogin || (authOn && user === undefined && certUser === undefined);
  return (
    <>
      <header>
        <h1>floe</h1>
        <nav>
          {VIEWS.map(([v, label]) => (
            <button type="button" name={`view-${v}`} class={v === view ? "on" : ""} onClick={() => go(v)}>
              {label}
            </button>
          ))}
        </nav>
        {latest?.authEnabled ? (
          <span class="auth-on" title="this cluster has authentication enabled">
            auth on
          </span>
        ) : null}
        {user === undefined && certUser !== undefined && authOn ? (
          <span class="user" title="signed in by this browser's client certificate">
            {certUser} (certificate)
          </span>
        ) : null}
        {user !== undefined ? (
          <span class="user">
            {user}{" "}
            <button
              type="button"
              name="sign-out"
              onClick={() => {
                setToken(undefined);
                setUser(undefined);
              }}
            >
              sign out
            </button>
          </span>
        ) : null}
        <span class={`conn ${connected ? "ok-text" : "bad-text"}`}>
          {connected ? `live from ${serving?.name ?? "…"}` : "connection lost: retrying"}
        </span>
      </header>
      {error ? (
        <div class="error-bar" role="alert">
          {error}{" "}
          <button type="button" onClick={() => setError("")}>
            dismiss
          </button>
        </div>
      ) : null}
      <main>
        {mustLogin && view !== "cluster" ? (
          <Login
            onDone={(name) => {
              setUser(name);
              setNeedLogin(false);
            }}
          />
        ) : view === "cluster" ? (
          <>
            <MemberTable sample={latest} />
            <Charts samples={samples} />
          </>
        ) : view === "keys" ? (
          <KeyBrowser onError={onError} />
        ) : view === "leases" ? (
          <>
            <Leases onError={onError} />
            <Alarms onError={onError} />
          </>
        ) : (
          <Operations sample={latest} />
        )}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
