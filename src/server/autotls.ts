// --auto-tls and --peer-auto-tls: a self-signed certificate made at the first
// start (with the selfsigned package) and kept in the data directory, as
// etcd keeps its own in <data-dir>/fixtures/{client,peer}. Clients (and, for
// the peer port, other members) cannot verify it: it encrypts, it does not
// authenticate. Later starts reuse the files.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** The hosts of `urls` plus the loopback names, as subject alternative names. */
function altNames(urls: readonly string[]): { type: 2 | 7; value?: string; ip?: string }[] {
  const hosts = new Set(["127.0.0.1", "localhost"]);
  for (const u of urls) {
    const h = new URL(u).hostname.replace(/^\[(.*)\]$/, "$1");
    if (h !== "" && h !== "0.0.0.0" && h !== "::") hosts.add(h);
  }
  return [...hosts].map((h) => (isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h }));
}

/** `dir`/cert.pem and key.pem, made now unless both exist already. */
export async function selfSignedCert(
  dir: string,
  commonName: string,
  urls: readonly string[],
): Promise<CertFiles> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };
  // Loaded on first use: most members never make a certificate.
  const { generate } = await import("selfsigned");
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      { name: "subjectAltName", altNames: altNames(urls) },
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert);
  return { certFile, keyFile };
}
