import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { opensslCiphers } from "../../src/common/ciphers.ts";
import { ConfigError, describeOptions, loadConfig, parseInitialCluster } from "../../src/server/config.ts";

test("config: defaults follow etcd and derived values fill in", () => {
  const c = loadConfig({});
  assert.equal(c.name, "default");
  assert.equal(c.dataDir, "default.floe");
  assert.deepEqual(c.listenClientUrls, ["http://127.0.0.1:2379"]);
  assert.deepEqual(c.advertiseClientUrls, ["http://127.0.0.1:2379"]);
  assert.equal(c.initialCluster, "default=http://127.0.0.1:2380");
  assert.equal(c.maxRequestBytes, 1.5 * 1024 * 1024);
  assert.equal(c.maxTxnOps, 128);
  assert.equal(c.snapshotCount, 100_000);
  assert.equal(c.maxConcurrentStreams, 1000);
  assert.equal(c.strictReconfigCheck, true);
  assert.equal(c.authToken, "simple");
  assert.equal(c.authTokenTtl, 300);
});

test("config: etcd's flags for streams, reconfiguration, small quotas and auth tokens", () => {
  const c = loadConfig({
    flags: {
      "max-concurrent-streams": "4294967295",
      "strict-reconfig-check": "false",
      "quota-backend-bytes": "53248",
      "auth-token": "jwt,pub-key=a.pem,priv-key=b.pem,sign-method=RS256,ttl=10m",
      "auth-token-ttl": "60",
    },
  });
  assert.equal(c.maxConcurrentStreams, 4294967295);
  assert.equal(c.strictReconfigCheck, false);
  assert.equal(c.quotaBackendBytes, 53248);
  assert.equal(c.authTokenTtl, 60);
  assert.throws(() => loadConfig({ flags: { "auth-token": "oauth" } }), /auth-token must be simple or jwt/);
  assert.throws(
    () => loadConfig({ flags: { "auth-token": "jwt,pub-key=a.pem,sign-method=XX1" } }),
    /auth-token: sign-method must be one of/,
  );
  assert.throws(
    () => loadConfig({ flags: { "auth-token": "jwt,pub-key=a.pem,sign-method=RS256,ttl=soon" } }),
    /ttl/,
  );
});

test("config: YAML file, then FLOE_* environment, then flags, each overriding the previous", () => {
  const dir = mkdtempSync(join(tmpdir(), "floe-config-"));
  const file = join(dir, "floe.yaml");
  writeFileSync(file, "name: from-file\nmax-txn-ops: 64\nsnapshot-count: 10\n");
  const c = loadConfig({ file, env: { FLOE_MAX_TXN_OPS: "32" }, flags: { "snapshot-count": "5" } });
  assert.equal(c.name, "from-file");
  assert.equal(c.maxTxnOps, 32);
  assert.equal(c.snapshotCount, 5);
});

test("config: bad values are refused with the option, the source and the value", () => {
  assert.throws(
    () => loadConfig({ flags: { "max-txn-ops": "many" } }),
    /flag --max-txn-ops: option max-txn-ops must be an integer, got "many"/,
  );
  assert.throws(
    () => loadConfig({ env: { FLOE_INITIAL_CLUSTER_STATE: "old" } }),
    /must be one of new, existing/,
  );
  assert.throws(() => loadConfig({ flags: { bogus: 1 } }), ConfigError);
  assert.throws(
    () => loadConfig({ flags: { "election-timeout": 150 } }),
    /at least twice heartbeat-interval/,
  );
  assert.throws(() => loadConfig({ flags: { "cert-file": "a.pem" } }), /given together/);
  const dir = mkdtempSync(join(tmpdir(), "floe-config-"));
  const file = join(dir, "bad.yaml");
  writeFileSync(file, "nmae: typo\n");
  assert.throws(() => loadConfig({ file }), /unknown option "nmae"/);
});

test("config: initial-cluster parses name=url pairs and rejects malformed ones", () => {
  const m = parseInitialCluster("a=http://x:1,b=http://y:2,a=http://z:3");
  assert.deepEqual(m.get("a"), ["http://x:1", "http://z:3"]);
  assert.throws(() => parseInitialCluster("a"), /name=url/);
});

test("config: the help text documents every option with default and environment variable", () => {
  const text = describeOptions();
  assert.match(text, /--quota-backend-bytes/);
  assert.match(text, /FLOE_MAX_REQUEST_BYTES/);
});

test("config: client-cert-auth, as etcd's flag, needs TLS and a trusted CA", () => {
  const tls = { "cert-file": "s.crt", "key-file": "s.key" };
  const c = loadConfig({
    flags: { ...tls, "client-cert-auth": true, "trusted-ca-file": "ca.crt", "client-crl-file": "ca.crl" },
  });
  assert.deepEqual([c.clientCertAuth, c.trustedCaFile, c.clientCrlFile], [true, "ca.crt", "ca.crl"]);
  assert.equal(loadConfig({ env: { FLOE_CLIENT_CERT_AUTH: "false" } }).clientCertAuth, false);
  assert.throws(
    () => loadConfig({ flags: { ...tls, "client-cert-auth": true } }),
    (e: unknown) => e instanceof ConfigError && /client-cert-auth needs trusted-ca-file/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ flags: { "client-cert-auth": true, "trusted-ca-file": "ca.crt" } }),
    (e: unknown) => e instanceof ConfigError && /need TLS: set cert-file and key-file/.test(e.message),
  );
});

test("config: etcd's other TLS flags: cipher-suites checked by name, peer CRL needs peer TLS, auto TLS", () => {
  const c = loadConfig({
    flags: {
      "cipher-suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "auto-tls": true,
      "peer-auto-tls": true,
      "peer-client-cert-auth": true,
    },
  });
  assert.deepEqual([c.autoTls, c.peerAutoTls, c.peerClientCertAuth], [true, true, true]);
  const refused = (flags: Record<string, string | boolean>, why: RegExp) =>
    assert.throws(
      () => loadConfig({ flags }),
      (e: unknown) => e instanceof ConfigError && why.test(e.message),
    );
  refused(
    { "cipher-suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA257" },
    /unexpected TLS cipher suite "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA257"/,
  );
  refused({ "cipher-suites": "TLS_RSA_WITH_RC4_128_SHA" }, /RC4\) is not supported/);
  refused({ "peer-crl-file": "ca.crl" }, /peer-crl-file needs peer TLS/);
  // auto-tls stands in for cert-file where client certificates are checked.
  const a = loadConfig({
    flags: { "auto-tls": true, "client-cert-auth": true, "trusted-ca-file": "ca.crt" },
  });
  assert.equal(a.clientCertAuth, true);
});

test("cipher suites: Go's names become OpenSSL's, TLS 1.3's suites stay on", () => {
  assert.equal(
    opensslCiphers("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305",
  );
});
