/** One implementation under test: ours or a peer, on one backend. */
import type { Case } from "./cases.js";
import type { Thunk } from "./harness.js";

export interface Impl {
  /** "anchorgrad" or the peer's name. */
  readonly impl: string;
  readonly backend: "cpu" | "webgpu";
  /** Start the runtime; resolves to why it cannot run here, or null. */
  init(): Promise<string | null>;
  /** A prepared run of the case, or why this implementation cannot run it. */
  prepare(c: Case): Promise<Thunk | string>;
  /** Release what `prepare` made. */
  release(): void;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 160);
