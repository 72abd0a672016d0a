/**
 * `--backend cpu|webgpu` for every command that computes. The flag's default
 * is ANCHORGRAD_BACKEND, else cpu. An unknown name or an unavailable backend
 * is an error that says why; nothing falls back to the CPU silently, since a
 * run the user believes is on the GPU must not quietly be on the CPU.
 */
import { backends, useBackend } from "../backends/registry.js";
import type { BackendStatus } from "../backends/backend.js";
import { AnchorError } from "../tensor/errors.js";
import { UsageError, type Flag } from "./args.js";

export const BACKEND_FLAG: Flag = {
  name: "backend",
  type: "string",
  description: "where tensors live and kernels run: cpu or webgpu (see anchorgrad doctor)",
  defaultText: "$ANCHORGRAD_BACKEND, else cpu",
};

export interface SelectedBackend {
  name: string;
  /** The GPU adapter's name (webgpu). */
  adapter?: string;
}

/** Which backend a run asked for: the flag, else ANCHORGRAD_BACKEND, else cpu; and where that came from. */
export function requestedBackend(flag: unknown, env: NodeJS.ProcessEnv = process.env): { name: string; from: string } {
  if (typeof flag === "string") return { name: flag, from: "--backend" };
  if (env.ANCHORGRAD_BACKEND) return { name: env.ANCHORGRAD_BACKEND, from: "ANCHORGRAD_BACKEND" };
  return { name: "cpu", from: "the default" };
}

/**
 * Check the requested backend against `statuses` (ag.backends(); a parameter
 * so tests can describe a machine without an adapter), then make it current.
 */
export async function selectBackend(flag: unknown, statuses?: readonly BackendStatus[]): Promise<SelectedBackend> {
  const { name, from } = requestedBackend(flag);
  // cpu is always there: no need to probe for a GPU adapter (which starts Dawn) on a CPU run
  const all = statuses ?? (name === "cpu" ? [{ name: "cpu", available: true }] : await backends());
  const status = all.find((s) => s.name === name);
  if (!status) {
    const known = all.map((s) => `${s.name} (${s.available ? "available" : `unavailable: ${s.reason ?? "no reason given"}`})`);
    throw new UsageError(`unknown backend "${name}" (from ${from}); the backends are: ${known.join(", ")}`);
  }
  if (!status.available)
    throw new AnchorError(
      `backend ${name} (from ${from}) is unavailable here: ${status.reason ?? "no reason given"}. ` +
        "Without a GPU, `npm run setup:webgpu-sw` (as root) installs Mesa's lavapipe, a software Vulkan driver; `anchorgrad doctor` shows what is available",
    );
  await useBackend(name);
  const adapter = status.info?.adapter;
  return { name, ...(typeof adapter === "string" && { adapter }) };
}
