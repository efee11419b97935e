// common/: small pieces several folders share: CRC-32C, the file-system
// interface the storage engines use (vfs.ts), certificate
// revocation lists, and OpenSSL cipher-list translation.

export { opensslCiphers } from "./ciphers.ts";
export { crc32c } from "./crc32c.ts";
export { RevocationList } from "./crl.ts";
export { nodeVfs, type Vfs, type VfsFileHandle } from "./vfs.ts";
