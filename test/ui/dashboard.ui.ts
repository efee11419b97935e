// The dashboard in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against a 3-member cluster of real `floe start` processes
// and Debian's etcdctl. `npm run test:ui` (after `npm run build`: the page is
// the built dist/ui). FLOE_UI_SCREENSHOTS=docs writes each view's screenshot
// to docs/ (as committed); otherwise they go to a temporary directory.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { LocalCluster, type Member, until } from "../cluster/local.ts";
import { ROOT } from "../integration/floe-process.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const shots =
  process.env.FLOE_UI_SCREENSHOTS === "docs"
    ? join(ROOT, "docs")
    : mkdtempSync(join(tmpdir(), "floe-ui-shots-"));

let cl: LocalCluster;
let browser: Browser;
let page: Page;
let serving: Member;
/** Console errors and uncaught exceptions of the page: none may happen. */
const pageErrors: string[] = [];

function etcdctl(args: string[], at = serving.endpoint): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      [`--endpoints=${at}`, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 },
      (e, out, err) => (e ? reject(new Error(`etcdctl ${args.join(" ")}: ${err}${out}`)) : resolve(out)),
    );
  });
}

/** Waits for a selector to show, then clicks it. */
async function clickWhenShown(selector: string): Promise<void> {
  await see(selector);
  await page.click(selector);
}

/** Waits for a selector, with the page's state in the failure message. */
async function see(selector: string, timeout = 10_000): Promise<void> {
  try {
    await page.waitForSelector(selector, { timeout });
  } catch (e) {
    const body = await page.$eval("body", (b) =>
      (b as unknown as { innerText: string }).innerText.slice(0, 2000),
    );
    throw new Error(`${selector} not shown within ${timeout} ms: ${(e as Error).message}\npage:\n${body}`);
  }
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage: true });
}

async function view(name: "cluster" | "keys" | "leases" | "ops"): Promise<void> {
  await page.click(`button[name="view-${name}"]`);
}

/** The member names the page shows in each role. */
function roles(): Promise<Record<string, string>> {
  return page.$$eval("tr.member", (rows) =>
    Object.fromEntries(
      rows.map((r) => [r.getAttribute("data-member") ?? "", r.getAttribute("data-role") ?? ""]),
    ),
  );
}

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
  assert.ok(existsSync(join(ROOT, "dist/ui/index.html")), "dist/ui is not built: run npm run build");
  mkdirSync(shots, { recursive: true });
  cl = new LocalCluster();
  for (const name of ["n1", "n2", "n3"]) await cl.addMember(name);
  await cl.startAll();
  serving = cl.members[0] as Member;
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => pageErrors.push(`page error: ${(e as Error).message}`));
  page.on("dialog", (d) => void d.accept());
});

after(async () => {
  await browser?.close();
  await cl?.close();
});

test("the page loads from a member's client port and shows 3 members, one of them the leader", async () => {
  const resp = await page.goto(`http://${serving.endpoint}/ui/`, { waitUntil: "domcontentloaded" });
  assert.equal(resp?.status(), 200);
  await see("tr.member");
  const shown = await until("3 members, one leader", async () => {
    const r = await roles();
    const names = Object.keys(r).sort();
    const leaders = Object.values(r).filter((x) => x === "leader");
    return names.length === 3 && leaders.length === 1 ? r : undefined;
  });
  assert.deepEqual(Object.keys(shown).sort(), ["n1", "n2", "n3"]);
  const leader = await cl.waitLeader();
  assert.equal(shown[leader.name], "leader", "the page's leader is the cluster's");
  // writes until the page shows them as a rate (so the charts have points to draw); for the
  // committed screenshots, a minute of them
  const client = cl.client(serving);
  const started = Date.now();
  const atLeast = process.env.FLOE_UI_SCREENSHOTS === "docs" ? 60_000 : 0;
  const writesShown = async () =>
    (
      await page.$$eval('table.members td[data-col="writes"]', (tds) => tds.map((t) => t.textContent ?? ""))
    ).some((t) => Number.parseFloat(t) > 0);
  for (let i = 0; ; i++) {
    await client.put(`load/k${i % 50}`).value(`v${i}`);
    if (i % 3 === 0) await client.get(`load/k${i % 50}`);
    if (i % 40 !== 0) continue;
    await new Promise((r) => setTimeout(r, 50 + ((i / 40) % 7) * 30)); // a varying rate, for the charts
    if (Date.now() - started >= atLeast && (await writesShown())) break;
    assert.ok(Date.now() - started < atLeast + 20_000, "the page showed no writes/s within 20 s of writing");
  }
  await see(".chart canvas");
  await shot("cluster");
});

test("a put made with etcdctl appears in the key browser, with its value, and in the watch tail", async () => {
  await etcdctl(["put", "dash/hello", "world"]);
  await etcdctl(["put", "dash/config", '{"replicas":3,"zone":"a"}']);
  await view("keys");
  await clickWhenShown('button[data-key="dash/"]');
  await clickWhenShown('button[data-key="dash/hello"]');
  await see('.kv[data-key="dash/hello"] pre.value');
  const value = await page.$eval('.kv[data-key="dash/hello"] pre.value', (e) => e.textContent);
  assert.equal(value, "world");
  // the watch tail follows the prefix being browsed
  await page.click("section.tail button.start");
  await until("the watch to be open", async () =>
    (await page.$eval("section.tail", (e) => e.textContent ?? "")).includes("watching") ? true : undefined,
  );
  await etcdctl(["put", "dash/hello", "world, again"]);
  await etcdctl(["put", "dash/tail", "live"]);
  await see('table.events tr[data-key="dash/tail"]');
  await see('table.events tr[data-key="dash/hello"]');
  // history of dash/hello: both versions
  await page.click('button[data-key="dash/hello"]');
  await clickWhenShown('.kv[data-key="dash/hello"] button.history');
  await see("table.history tbody tr td.num");
  const versions = await page.$$eval("table.history tbody tr", (rows) => rows.length);
  assert.equal(versions, 2, "two versions of dash/hello");
  await page.click('button[data-key="dash/config"]');
  await see('.kv[data-key="dash/config"] pre.value');
  const pretty = await page.$eval('.kv[data-key="dash/config"] pre.value', (e) => e.textContent ?? "");
  assert.match(pretty, /\n {2}"replicas": 3,/, "JSON is pretty-printed");
  await shot("keys");
});

test("a key created and deleted in the browser is created and deleted in the cluster", async () => {
  await page.click("button.new-key");
  await see('form.editor input[name="key"]');
  await page.$eval('form.editor input[name="key"]', (e) => {
    (e as unknown as { value: string }).value = "";
  });
  await page.type('form.editor input[name="key"]', "dash/made-in-ui");
  await page.type('form.editor textarea[name="value"]', "hello from the browser");
  await page.click('form.editor button[type="submit"]');
  await until("etcdctl to see the key", async () => {
    const out = await etcdctl(["get", "dash/made-in-ui", "--print-value-only"]);
    return out.trim() === "hello from the browser" ? true : undefined;
  });
  await clickWhenShown('.kv[data-key="dash/made-in-ui"] button.danger');
  await until("etcdctl to see the key gone", async () => {
    const out = await etcdctl(["get", "dash/made-in-ui", "--print-value-only"]);
    return out.trim() === "" ? true : undefined;
  });
});

test("leases show with their TTL and attached keys", async () => {
  const out = await etcdctl(["lease", "grant", "300"]);
  const granted = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
  assert.ok(granted, out);
  const id = BigInt(`0x${granted}`).toString(16); // etcdctl pads it to 16 digits
  await etcdctl(["put", "dash/leased", "x", `--lease=${granted}`]);
  await view("leases");
  await see(`tr[data-lease="${id}"]`);
  const row = await page.$eval(`tr[data-lease="${id}"]`, (e) => e.textContent ?? "");
  assert.match(row, /dash\/leased/);
  assert.match(row, /300 s/, "granted TTL");
  await see("section p.ok-text");
  await shot("leases");
});

test("moving the leader in the operations view is reflected in the cluster view", async () => {
  const before = await cl.waitLeader();
  const target = cl.members.find((m) => m.name !== before.name) as Member;
  await view("cluster");
  await see("tr.member .id");
  const ids = await page.$$eval("tr.member", (rows) =>
    rows.map((r) => [r.getAttribute("data-member"), r.querySelector(".id")?.textContent]),
  );
  const targetId = ids.find(([name]) => name === target.name)?.[1];
  assert.ok(targetId);
  await view("ops");
  await see('select[name="move-to"]');
  await until("the target in the list", async () =>
    (await page.$$eval('select[name="move-to"] option', (o) => o.map((x) => x.value))).includes(
      targetId as string,
    )
      ? true
      : undefined,
  );
  await page.select('select[name="move-to"]', targetId as string);
  await page.click('button[name="move-leader"]');
  await see(".results li.ok-text");
  const result = await page.$eval(".results li", (e) => e.textContent ?? "");
  assert.match(result, new RegExp(`${target.name} is the new leader`));
  await shot("operations");
  await view("cluster");
  await until(
    "the page to show the new leader",
    async () => ((await roles())[target.name] === "leader" ? true : undefined),
    10_000,
  );
  assert.equal((await cl.waitLeader()).name, target.name);
});

test("compaction, defragmentation and a snapshot download run from the operations view and report their results", async () => {
  const downloads = mkdtempSync(join(tmpdir(), "floe-ui-downloads-"));
  const cdp = await page.createCDPSession();
  await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
  await view("ops");
  /** The result line the operations view reported for `what`. */
  const resultOf = (what: string) =>
    until(`the ${what} result`, async () =>
      (await page.$$eval(".results li", (l) => l.map((x) => x.textContent ?? ""))).find((t) =>
        t.startsWith(`${what}:`),
      ),
    );
  await page.click('button[name="compact"]');
  assert.match(await resultOf("compact"), /^compact: compacted up to revision \d+$/);
  const n2 = await page.$$eval('select[name="defrag-of"] option', (o) =>
    o.filter((x) => x.textContent?.startsWith("n2")).map((x) => x.value),
  );
  await page.select('select[name="defrag-of"]', n2[0] as string);
  await page.click('button[name="defrag"]');
  assert.match(await resultOf("defragment"), /^defragment: n2 defragmented/);
  await page.select('select[name="snapshot-of"]', n2[0] as string);
  await page.click('button[name="snapshot"]');
  assert.match(await resultOf("snapshot"), /^snapshot: snapshot of n2: [\d.]+ (B|KiB|MiB)$/);
  const file = await until("the downloaded file", async () => {
    const f = readdirSync(downloads).find((x) => x.startsWith("floe-n2-") && x.endsWith(".db"));
    return f !== undefined && statSync(join(downloads, f)).size > 0 ? f : undefined;
  });
  // etcd's snapshot format: a bbolt file (its magic at byte 16 of the first page)
  const head = readFileSync(join(downloads, file)).subarray(0, 32);
  assert.equal(head.readUInt32LE(16), 0xed0cdaed, "a bbolt file");
});

test("a killed member turns red within two seconds", async () => {
  const leader = await cl.waitLeader();
  const victim = cl.members.find((m) => m !== serving && m !== leader) as Member;
  await view("cluster");
  await until("the victim shown up", async () =>
    (await roles())[victim.name] !== "down" ? true : undefined,
  );
  const t0 = Date.now();
  await cl.kill(victim);
  await until(
    "the victim shown down",
    async () => ((await roles())[victim.name] === "down" ? true : undefined),
    10_000,
  );
  const ms = Date.now() - t0;
  assert.ok(ms <= 2500, `shown down after ${ms} ms`);
  await shot("member-down");
});

test("with auth enabled, the page asks for a login and then reads keys with the token", async () => {
  await etcdctl(["user", "add", "root", "--new-user-password=rootpw", "--interactive=false"]);
  await etcdctl(["auth", "enable"]);
  await view("cluster");
  await see("header .auth-on", 10_000);
  await view("keys");
  await see('form.login input[name="user"]');
  await page.type('form.login input[name="user"]', "root");
  await page.type('form.login input[name="password"]', "rootpw");
  await page.click('form.login button[type="submit"]');
  await see('button[data-key="dash/"]');
  const who = await page.$eval("header .user", (e) => e.textContent ?? "");
  assert.match(who, /^root/);
  await etcdctl(["--user=root:rootpw", "auth", "disable"]);
});

test("the page logged no errors", () => {
  assert.deepEqual(pageErrors, []);
});
