// Mutual TLS for the peer port: both sides present a certificate signed by the
// cluster's CA and both verify the other's.

import { readFileSync } from "node:fs";

export interface PeerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
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
    ca: read("CA", files.caFile),
  };
}
