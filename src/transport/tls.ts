// Mutual TLS for the peer port: both sides present a certificate signed by the
// cluster's CA and both verify the other's (and refuse one the CRL lists).
// Without a CA (--peer-auto-tls, self-signed certificates) the port is
// encrypted but neither side can verify the other.

import { readFileSync } from "node:fs";

export interface PeerTlsFiles {
  certFile: string;
  keyFile: string;
  /** Without one, peers' certificates are not verified (auto TLS). */
  caFile?: string;
  crlFile?: string;
  /** OpenSSL cipher string (see common/ciphers.ts). */
  ciphers?: string;
}

/** Options for tls.createServer and tls.connect alike. */
export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  crl?: Buffer;
  ciphers?: string;
  rejectUnauthorized: boolean;
}

export function loadPeerTls(files: PeerTlsFiles): PeerTls {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read peer TLS ${what} ${file}: ${(e as Error).message}`);
    }
  };
  return {
    cert: read("certificate", files.certFile),
    key: read("key", files.keyFile),
    ...(files.caFile ? { ca: read("CA", files.caFile) } : {}),
    ...(files.crlFile ? { crl: read("CRL", files.crlFile) } : {}),
    ...(files.ciphers ? { ciphers: files.ciphers } : {}),
    rejectUnauthorized: files.caFile !== undefined && files.caFile !== "",
  };
}
