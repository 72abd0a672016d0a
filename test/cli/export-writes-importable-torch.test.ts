/**
 * `anchorgrad export` writes a .py file that python3 imports and runs: a
 * built-in by name with --options, a fromTrl config, and the README's
 * marginDpo from a user's module called with --args. A missing export is a
 * usage error listing the module's functions.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { exportCommand } from "../../src/cli/commands/export.js";
import { readmeBlock } from "../helpers/readme.js";
import { describeOracle, PYTHON } from "../helpers/torch.js";

const dir = mkdtempSync(join(tmpdir(), "ag-export-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SRC = fileURLToPath(new URL("../../src/index.js", import.meta.url));

/** Import `module` from `dir` under python3 and call its function on a batch of 3; print the loss. */
function importAndCall(module: string, fn: string): { status: number | null; out: string } {
  const code = [
    "import torch",
    `from ${module} import ${fn}`,
    "S = lambda *v: torch.tensor(v, dtype=torch.float64)",
    `loss, metrics = ${fn}(S(-3., -5., -2.), S(-4., -4., -6.), S(-3.5, -5., -2.5), S(-3.8, -4.2, -5.), torch.tensor([3, 4, 2]), torch.tensor([4, 3, 5]))`,
    "print(float(loss), sorted(metrics))",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", code], { cwd: dir, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

describeOracle("anchorgrad export", () => {
  it("--objective acpo --options writes a module python3 imports", async () => {
    await exportCommand.run(["--objective", "acpo", "--options", '{"delta":0.1}', "--out", join(dir, "acpo_loss.py")]);
    const r = importAndCall("acpo_loss", "acpo_loss");
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/^\d\S* \[.*'acpo\/alpha'.*'rewards\/margins'/);
  });

  it("--objective trl takes TRL's fields", async () => {
    const options = JSON.stringify({ trainer: "dpo", version: "0.25", loss_type: ["sigmoid", "sft"], loss_weights: [1, 0.5] });
    await exportCommand.run(["--objective", "trl", "--options", options, "--out", join(dir, "trl_loss.py")]);
    const r = importAndCall("trl_loss", "trl_loss");
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/'nll_loss'/);
  });

  it("--module --name --args exports the README's marginDpo", async () => {
    const def = /^const marginDpo = [\s\S]*?^};$/m.exec(readmeBlock("objective-example"))![0];
    const file = join(dir, "my-objective.ts");
    writeFileSync(file, `import * as ag from ${JSON.stringify(SRC)};\nexport ${def}\n`);
    await exportCommand.run(["--module", file, "--name", "marginDpo", "--args", "[0.1, 0.5]", "--out", join(dir, "margin_dpo.py")]);
    const r = importAndCall("margin_dpo", "margin_dpo");
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/\['margin'\]/);
    await expect(exportCommand.run(["--module", file, "--name", "nope", "--out", join(dir, "x.py")])).rejects.toThrow(
      /exports no function "nope"; its functions: marginDpo/,
    );
  });
});
