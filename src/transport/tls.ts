// Mutual TLS for the peer port: both sides present a certificate signed by the
// cluster's CA and both verify the other's, and a certificate the CRL lists
// is refused after the handshake (common/crl.ts: etcd's check, which an
// expired CRL does not turn into a refusal of everyone).
// Without a CA (--peer-auto-tls, self-signed certificates) the port is
// encrypted but neither side can verify the other.

import { readFileSync } from "node:fs";
import type { TLSSocket } from "node:tls";
import { RevocationList } from "../common/index.ts";

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
  ciphers?: string;
  rejectUnauthorized: boolean;
}

/** What a peer CRL file lists; kept beside the TLS options, which go to Node as they are. */
const revocations = new WeakMap<PeerTls, RevocationList>();

/** The serial of a revoked certificate the TLS peer presented, per the peer CRL (undefined: none or no CRL). */
export function revokedPeer(t: PeerTls | undefined, socket: TLSSocket): string | undefined {
  const crl = t === undefined ? undefined : revocations.get(t);
  return crl?.revokedIn(socket);
}

export function loadPeerTls(files: PeerTlsFiles): PeerTls {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read peer TLS ${what} ${file}: ${(e as Error).message}`);
    }
  };
  const t: PeerTls = {
    cert: read("certificate", files.certFile),
    key: read("key", files.keyFile),
    ...(files.caFile ? { ca: read("CA", files.caFile) } : {}),
    ...(files.ciphers ? { ciphers: files.ciphers } : {}),
    rejectUnauthorized: files.caFile !== undefined && files.caFile !== "",
  };
  if (files.crlFile) revocations.set(t, RevocationList.load(files.crlFile));
  return t;
}
