/**
 * `anchorgrad export`: write an objective as a standalone PyTorch function
 * (ag.exportTorch), for TRL's DPOTrainer through python/anchorgrad_trl.py
 * (docs/scale-out.md). The objective is a built-in by name with options, or
 * an export of the user's own module, called with --args when it is a factory.
 */
import { writeFile } from "node:fs/promises";
import { basename, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { exportTorch } from "../../objectives/export-torch.js";
import type { Objective } from "../../objectives/types.js";
import { objectiveFromSpec, OBJECTIVES } from "../../train/objectives.js";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";

function parseJson(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--${flag}: not valid JSON (${(e as Error).message}): ${text}`);
  }
}

/** Import a user's module; a .ts file needs a TypeScript loader (tsx), which is tried when installed. */
async function importModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(resolve(path)).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[mc]?ts$/.test(path)) {
      const tsx = await import("tsx/esm/api" as string).catch(() => null);
      if (tsx) return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
      throw new UsageError(
        `--module ${path}: Node cannot import TypeScript by itself; install tsx (npm i -D tsx) or compile the module to .js`,
      );
    }
    if (code === "ERR_MODULE_NOT_FOUND" || code === "ENOENT") throw new UsageError(`--module ${path}: ${(e as Error).message}`);
    throw e;
  }
}

async function objectiveFromModule(path: string, name: string, args: unknown): Promise<Objective> {
  const mod = await importModule(path);
  const value = mod[name];
  if (typeof value !== "function") {
    const names = Object.keys(mod).filter((k) => typeof mod[k] === "function");
    throw new UsageError(`--module ${path} exports no function "${name}"; its functions: ${names.join(", ") || "none"}`);
  }
  if (args === undefined) return value as Objective;
  if (!Array.isArray(args)) throw new UsageError(`--args: expected a JSON array of the factory's arguments, got ${JSON.stringify(args)}`);
  const objective = (value as (...a: unknown[]) => unknown)(...args);
  if (typeof objective !== "function")
    throw new UsageError(`${name}(...${JSON.stringify(args)}) returned ${typeof objective}, not an objective`);
  return objective as Objective;
}

export const exportCommand = defineCommand({
  name: "export",
  summary: "write an objective as a standalone PyTorch loss function (for TRL, see docs/scale-out.md)",
  flags: [
    {
      name: "objective",
      type: "string",
      defaultText: "none (or --module)",
      description: `a built-in objective: ${Object.keys(OBJECTIVES).join(", ")}, weighted, or trl (TRL fields in --options)`,
    },
    { name: "options", type: "string", default: "{}", description: "the objective's options as JSON, e.g. '{\"delta\":0.1}'" },
    { name: "module", type: "path", defaultText: "none", description: "a JavaScript/TypeScript module that exports the objective" },
    {
      name: "name",
      type: "string",
      defaultText: "none",
      description: "with --module: the export to use (an objective, or a factory called with --args)",
    },
    {
      name: "args",
      type: "string",
      defaultText: "none: the export is the objective",
      description: "with --module: the factory's arguments as a JSON array",
    },
    {
      name: "function",
      type: "string",
      defaultText: "the --out file's name, else <objective>_loss",
      description: "the Python function's name",
    },
    { name: "out", type: "path", defaultText: "standard output", description: "the .py file to write" },
  ],
  epilog:
    "examples:\n  npx anchorgrad export --objective acpo --options '{\"delta\":0.1}' --out acpo_loss.py\n  npx anchorgrad export --module ./my-objective.ts --name marginDpo --args '[0.1, 0.5]' --out margin_dpo.py",
  async action(v) {
    const [objectiveName, module] = [v.objective as string | undefined, v.module as string | undefined];
    if (!objectiveName === !module) throw new UsageError("give one of --objective NAME or --module FILE --name EXPORT");
    let objective: Objective;
    let label: string;
    if (module) {
      if (!v.name) throw new UsageError("--module needs --name: the export that is (or makes) the objective");
      label = v.name as string;
      objective = await objectiveFromModule(module, label, v.args === undefined ? undefined : parseJson("args", v.args as string));
    } else {
      label = objectiveName!;
      const options = parseJson("options", v.options as string);
      if (!options || typeof options !== "object" || Array.isArray(options))
        throw new UsageError(`--options: expected a JSON object, got ${v.options as string}`);
      const spec = objectiveName === "trl" ? { trl: options } : { name: objectiveName!, ...options };
      objective = objectiveFromSpec(spec as Parameters<typeof objectiveFromSpec>[0], "--objective");
    }
    const out = v.out as string | undefined;
    const fn = (v.function as string | undefined) ?? (out ? basename(out, extname(out)) : `${label.replace(/\W/g, "_")}_loss`);
    const source = exportTorch(objective, { name: fn });
    if (!out) return void process.stdout.write(source);
    await writeFile(out, source);
    console.log(`wrote ${out}: ${fn}(policy_chosen_logps, policy_rejected_logps, ...) -> (loss, metrics), the torch form of ${label}`);
  },
});
