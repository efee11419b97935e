// Test certificates made with openssl: a CA, certificates it signs (for
// 127.0.0.1 and localhost, CN = the name), and a revocation list.

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const openssl = (dir: string, ...args: string[]) =>
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** ca.crt/ca.key and, per name, <name>.crt/<name>.key signed by it, in `dir`. */
export function makeCerts(dir: string, names: string[]): void {
  const run = (...args: string[]) => openssl(dir, ...args);
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=floe-test-ca",
  );
  for (const n of names) {
    run(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${n}.key`,
      "-out",
      `${n}.csr`,
      "-subj",
      `/CN=${n}`,
    );
    writeFileSync(join(dir, `${n}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    run(
      "x509",
      "-req",
      "-in",
      `${n}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${n}.crt`,
      "-days",
      "2",
      "-extfile",
      `${n}.ext`,
    );
  }
}

/** Revokes <name>.crt and writes the CA's revocation list to ca.crl (PEM); returns its path. */
/**
 * Revokes `name`'s certificate and writes the CA's CRL: PEM by default, DER
 * with `der`, and with `expired` one whose next update is already past (as
 * etcd's own fixture revoke.crl is).
 */
export function revokeCert(dir: string, name: string, o: { der?: boolean; expired?: boolean } = {}): string {
  writeFileSync(
    join(dir, "ca.cnf"),
    "[ca]\ndefault_ca = floe\n[floe]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
  );
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "crlnumber"), "01\n");
  const ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
  openssl(dir, "ca", ...ca, "-revoke", `${name}.crt`);
  // an expired list: issued and due for renewal years ago (as etcd's fixture revoke.crl)
  const dates = o.expired ? ["-crl_lastupdate", "20200101000000Z", "-crl_nextupdate", "20200108000000Z"] : [];
  openssl(dir, "ca", ...ca, "-gencrl", ...dates, "-out", "ca.crl");
  if (!o.der) return join(dir, "ca.crl");
  openssl(dir, "crl", "-in", "ca.crl", "-outform", "DER", "-out", "ca.crl.der");
  return join(dir, "ca.crl.der");
}
