// How long fdatasync takes after a small write, by how the file's blocks came
// to be: appended (the file grows with every write), overwritten in a file
// zero-filled and synced beforehand, written into a hole (a sparse file, as
// after ftruncate; fallocate's unwritten extents behave alike), or appended
// into zeros written a chunk ahead of the writes (what the WAL's
// preallocateBytes does). Rounds interleave the modes, so a noisy disk hits
// them alike.
//   node bench/storage/fdatasync-modes.mjs [DIR]   (default: a new dir under /var/tmp)
//   env: N writes per round (2000), REC bytes per write (350), CH chunk (1 MiB),
//        ROUNDS (3), MODES (append,zero,sparse,chunk)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const dir = process.argv[2] ?? fs.mkdtempSync(path.join("/var/tmp", "floe-fsync-"));
fs.mkdirSync(dir, { recursive: true });
const N = Number(process.env.N ?? 2000);
const REC = Number(process.env.REC ?? 350);
const CH = Number(process.env.CH ?? 1 << 20);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const modes = (process.env.MODES ?? "append,zero,sparse,chunk").split(",");
const record = Buffer.alloc(REC, 7);
const zeros = Buffer.alloc(CH);
const span = N * REC + CH;

function prepare(mode) {
  const file = path.join(dir, `${mode}.dat`);
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, "w+");
  if (mode === "zero") {
    for (let at = 0; at < span; at += CH) fs.writeSync(fd, zeros, 0, CH, at);
    fs.fsyncSync(fd);
  } else if (mode === "sparse") {
    fs.ftruncateSync(fd, span);
    fs.fsyncSync(fd);
  }
  return { fd, file };
}

function round(mode) {
  const { fd, file } = prepare(mode);
  const micros = [];
  let pos = 0;
  let zeroedTo = 0;
  for (let i = 0; i < N; i++) {
    if (mode === "chunk" && pos + REC > zeroedTo - CH / 4) {
      fs.writeSync(fd, zeros, 0, CH, zeroedTo);
      zeroedTo += CH;
    }
    fs.writeSync(fd, record, 0, REC, pos);
    pos += REC;
    const t = process.hrtime.bigint();
    fs.fdatasyncSync(fd);
    micros.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  fs.closeSync(fd);
  fs.rmSync(file, { force: true });
  return micros;
}

const results = Object.fromEntries(modes.map((m) => [m, []]));
for (let r = 0; r < ROUNDS; r++) for (const m of modes) results[m].push(...round(m));
console.log(`${N * ROUNDS} fdatasyncs per mode after ${REC}-byte writes, in ${dir} (load ${os.loadavg()[0].toFixed(2)})`);
console.log("| mode | p50 µs | p90 µs | p99 µs | mean µs |\n|---|---:|---:|---:|---:|");
for (const [m, l] of Object.entries(results)) {
  l.sort((a, b) => a - b);
  const q = (p) => l[Math.floor(p * (l.length - 1))].toFixed(0);
  const mean = (l.reduce((a, b) => a + b, 0) / l.length).toFixed(0);
  console.log(`| ${m} | ${q(0.5)} | ${q(0.9)} | ${q(0.99)} | ${mean} |`);
}
fs.rmSync(dir, { recursive: true, force: true });
