/** Shared helpers for the I/O tests: temp directories and hand-built safetensors bytes. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

/** A fresh temp directory, removed after the file's tests. */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `anchorgrad-${tag}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Safetensors bytes assembled by hand (not by our writer): the header JSON
 * (or any raw string), padded with spaces to `pad` bytes, then `data`.
 * `headerLen` overrides the length prefix to build broken files.
 */
export function rawSafetensors(header: unknown, data: Uint8Array, opts: { headerLen?: bigint; pad?: boolean } = {}): Uint8Array {
  let json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  if (opts.pad ?? true) json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(opts.headerLen ?? BigInt(json.length));
  return new Uint8Array(Buffer.concat([prefix, json, data]));
}

/** Little-endian bytes of 16-bit patterns. */
export const u16Bytes = (bits: number[]): Uint8Array => new Uint8Array(Uint16Array.from(bits).buffer);

export function writeBytes(path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  return path;
}
