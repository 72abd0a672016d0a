/**
 * A subcommand of the anchorgrad CLI: its flags as data (src/cli/args.ts)
 * and an action. commander does the parsing, the help, the required-flag and
 * choice checks and the "(Did you mean --steps?)" suggestions.
 */
import { Command as Commander, CommanderError, Help, Option } from "commander";
import { defaultLabel, numericCheck, parseNumber, typeLabel, UsageError, type Flag, type FlagValues } from "./args.js";

export interface CommandSpec {
  readonly name: string;
  /** One line for `anchorgrad --help`. */
  readonly summary: string;
  readonly flags: readonly Flag[];
  /** Lines after the flag list in `--help` (examples, notes). */
  readonly epilog?: string;
  action(values: FlagValues): Promise<void>;
}

export interface Command extends CommandSpec {
  /** The `--help` text. */
  help(): string;
  /** Parse `argv` (flags after the command name) and run; a parse error is a UsageError. */
  run(argv: readonly string[]): Promise<void>;
}

/** Every command takes these. */
export const COMMON_FLAGS: readonly Flag[] = [
  { name: "verbose", type: "boolean", description: "print the stack trace with an error (also ANCHORGRAD_DEBUG=1)" },
  { name: "help", type: "boolean", description: "show this help and exit" },
];

const placeholder = (f: Flag): string => (f.type === "boolean" ? "" : ` <${typeof f.type === "string" ? f.type : f.type.join("|")}>`);

function toOption(f: Flag): Option {
  const o = new Option(`--${f.name}${placeholder(f)}`, f.description);
  if (typeof f.type !== "string") o.choices(f.type);
  if (f.type === "number" || f.type === "integer") o.argParser((raw: string) => parseNumber(f, raw));
  if (f.required) o.makeOptionMandatory();
  if (f.default !== undefined) o.default(f.default);
  return o;
}

/** Help lists each flag as: --name <type>   meaning (type; default). */
class FlagHelp extends Help {
  constructor(private readonly byFlag: ReadonlyMap<string, Flag>) {
    super();
  }
  override optionDescription(option: Option): string {
    const f = this.byFlag.get(option.long!.slice(2));
    return f ? `${f.description} (${typeLabel(f)}; ${defaultLabel(f)})` : super.optionDescription(option);
  }
}

/** A commander program for one spec; parse errors and help come back as exceptions and text, never process.exit. */
function build(spec: CommandSpec, flags: readonly Flag[]): { program: Commander; out: string[] } {
  const out: string[] = [];
  const byFlag = new Map(flags.map((f) => [f.name, f]));
  const program = new Commander(`anchorgrad ${spec.name}`)
    .description(spec.summary)
    .helpOption(false)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void out.push(s), outputError: () => {} });
  program.createHelp = () => Object.assign(new FlagHelp(byFlag), program.configureHelp());
  for (const f of flags) if (f.name !== "help") program.addOption(toOption(f));
  program.addOption(new Option("-h, --help", byFlag.get("help")!.description));
  if (spec.epilog) program.addHelpText("after", `\n${spec.epilog}`);
  return { program, out };
}

/** The values by flag name; "no-x" flags read commander's negated attribute `x`. */
function valuesOf(program: Commander, flags: readonly Flag[]): FlagValues {
  const opts = program.opts() as Record<string, unknown>;
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const f of flags) {
    const attr = new Option(`--${f.name}`).attributeName();
    values[f.name] = f.name.startsWith("no-") ? opts[attr] === false : (opts[attr] as string | number | boolean | undefined);
  }
  return values;
}

/** commander's "error: unknown option '--step'\n(Did you mean --steps?)" as one line. */
const oneLine = (m: string): string => m.replace(/^error: /, "").replace(/\s*\n\(Did you mean (.*)\)\s*$/, " (did you mean $1)");

export function defineCommand(spec: CommandSpec): Command {
  const flags = [...spec.flags, ...COMMON_FLAGS];
  for (const f of flags)
    if ((f.type === "number" || f.type === "integer") && typeof f.default === "number" && !numericCheck(f).ok(f.default))
      throw new Error(`${spec.name} --${f.name}: default ${f.default} is not ${numericCheck(f).what}`); // a bug in the declaration
  return {
    ...spec,
    help() {
      const { program } = build(spec, flags);
      return program.helpInformation().trimEnd();
    },
    async run(argv) {
      if (argv.includes("--help") || argv.includes("-h")) {
        console.log(this.help());
        return;
      }
      const { program } = build(spec, flags);
      program.action(() => {});
      try {
        program.parse([...argv], { from: "user" });
      } catch (e) {
        if (e instanceof CommanderError) throw new UsageError(oneLine(e.message));
        throw e;
      }
      await spec.action(valuesOf(program, flags));
    },
  };
}
