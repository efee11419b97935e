// common/: small pieces several folders share: CRC-32C, certificate
// revocation lists, and OpenSSL cipher-list translation.

export { opensslCiphers } from "./ciphers.ts";
export { crc32c } from "./crc32c.ts";
export { RevocationList } from "./crl.ts";
