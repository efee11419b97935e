// Certificate revocation lists with etcd's semantics: a connection whose peer
// presents a certificate (leaf or chain) whose serial number the CRL lists is
// closed right after the handshake. As in etcd, the CRL's own validity period
// and signature are not consulted: a CRL past its next-update date still
// revokes what it lists and does not turn every client away (OpenSSL's CRL
// check, Node's `crl` option, would refuse every certificate once it expires).
// PEM and DER files are both read, as Go's x509.ParseCRL reads both.

import { readFileSync } from "node:fs";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { X509Crl } from "@peculiar/x509";

function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

export class RevocationList {
  private constructor(
    readonly file: string,
    private readonly serials: ReadonlySet<string>,
  ) {}

  /** Reads a CRL file; an unreadable or malformed file is an error naming it. */
  static load(file: string): RevocationList {
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read CRL file ${file}: ${(e as Error).message}`);
    }
    let crl: X509Crl;
    try {
      const text = raw.toString("latin1");
      crl = new X509Crl(text.includes("-----BEGIN") ? text : raw);
    } catch (e) {
      throw new Error(
        `CRL file ${file} is not a PEM or DER certificate revocation list: ${(e as Error).message}`,
      );
    }
    return new RevocationList(file, new Set(crl.entries.map((e) => normalSerial(e.serialNumber))));
  }

  get size(): number {
    return this.serials.size;
  }

  isRevoked(serialHex: string): boolean {
    return this.serials.has(normalSerial(serialHex));
  }

  /** The serial of the first revoked certificate the TLS peer presented, if any. */
  revokedIn(socket: TLSSocket): string | undefined {
    let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
    const seen = new Set<PeerCertificate>();
    while (cert?.serialNumber && !seen.has(cert)) {
      if (this.isRevoked(cert.serialNumber)) return cert.serialNumber;
      seen.add(cert);
      cert = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
    }
    return undefined;
  }
}
