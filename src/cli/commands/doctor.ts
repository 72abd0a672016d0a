/** `anchorgrad doctor`: versions, and which backends work here (and why not). */
import { readFileSync } from "node:fs";
import { backends } from "../../backends/registry.js";
import { defineCommand } from "../command.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export const doctor = defineCommand({
  name: "doctor",
  summary: "print versions and the backends available on this machine",
  flags: [],
  async action() {
    console.log(`anchorgrad ${version()}`);
    console.log(`node ${process.version} (${process.platform}-${process.arch})`);
    for (const b of await backends()) {
      console.log(`backend ${b.name}: ${b.available ? "available" : "unavailable"}${b.reason ? ` (${b.reason})` : ""}`);
      for (const [k, v] of Object.entries(b.info ?? {})) console.log(`  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
    }
  },
});
