// Keeps the dashboard open in headless chromium (puppeteer-core) on the
// cluster view, as a person watching it would, until stdin closes or the
// process is signalled. Used by bench/ui-overhead.sh.
//   node --import tsx bench/ui-open.ts http://127.0.0.1:2379/ui/
import puppeteer from "puppeteer-core";

const url = process.argv[2] ?? "http://127.0.0.1:2379/ui/";
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage();
await page.setViewport({ width: 1360, height: 900 });
await page.goto(url, { waitUntil: "domcontentloaded" });
await page.waitForSelector("tr.member", { timeout: 30_000 });
process.stdout.write("open\n");
const close = async () => {
  await browser.close();
  process.exit(0);
};
process.on("SIGTERM", close);
process.on("SIGINT", close);
process.stdin.on("end", close);
process.stdin.resume();
