// `floe start`: run one member with options from --config, FLOE_* and flags.

import { Command } from "commander";
import { ConfigError, describeOptions, loadConfig, OPTIONS } from "../server/index.ts";

export async function runStart(argv: string[]): Promise<void> {
  const cmd = new Command("floe start")
    .description("start a floe member serving the etcd v3 API")
    .option("--config <file>", "YAML configuration file (keys are the option names below)")
    .allowExcessArguments(false)
    .addHelpText(
      "after",
      `\nOptions (flag > FLOE_* environment > config file > default):\n${describeOptions()}`,
    );
  // a boolean may be given bare, as etcd's flags: --client-cert-auth
  for (const o of OPTIONS) cmd.option(o.kind === "bool" ? `--${o.name} [value]` : `--${o.name} <value>`);
  cmd.helpOption("-h, --help");
  cmd.parse(argv, { from: "user" });
  const { config, ...flags } = cmd.opts<Record<string, string>>();
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig({ file: config, env: process.env, flags });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`floe start: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const { startFloeServer } = await import("../server/index.ts");
  let server: Awaited<ReturnType<typeof startFloeServer>>;
  try {
    server = await startFloeServer(cfg, undefined, (e) => {
      process.stderr.write(`floe: stopping the member in ${cfg.dataDir}: ${e.message}\n`);
      // the requests in flight were answered "etcdserver: server stopped" when
      // the runtime stopped: give those answers a moment to leave
      setTimeout(() => process.exit(1), 200);
    });
  } catch (e) {
    process.stderr.write(`floe start: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const shutdown = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
