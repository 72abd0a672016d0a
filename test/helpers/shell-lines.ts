/**
 * The `npx anchorgrad ...` lines of a markdown file's ```sh blocks, as a user
 * would type them: backslash continuations joined, `# comments` dropped,
 * quotes removed (a small POSIX-like word splitter: no variables or globs,
 * which the docs do not use).
 */
import { readFileSync } from "node:fs";

export interface ShellLine {
  file: string;
  /** 1-based line where the command starts. */
  line: number;
  text: string;
  argv: string[];
}

/** Split one command line into words; a `#` outside quotes at a word start ends it. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced ${c} in: ${text}`);
      cur = (cur ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (/\s/.test(c)) {
      if (cur !== null) words.push(cur);
      cur = null;
    } else if (c === "#" && cur === null) break;
    else cur = (cur ?? "") + c;
  }
  if (cur !== null) words.push(cur);
  return words;
}

export function npxLines(file: string, command = "anchorgrad"): ShellLine[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const out: ShellLine[] = [];
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^```/.test(l)) {
      inSh = !inSh && /^```(sh|bash|shell)\s*$/.test(l);
      continue;
    }
    if (!inSh) continue;
    const start = i;
    let text = l;
    while (text.endsWith("\\") && i + 1 < lines.length) text = text.slice(0, -1) + " " + lines[++i]!.trim();
    const argv = shellWords(text);
    if (argv[0] === "npx" && argv[1] === command) out.push({ file, line: start + 1, text: text.trim(), argv });
  }
  return out;
}
