/**
 * Opening user-named files for reading, safely.
 *
 * A path a user gives as a model, config, data or image file may name a FIFO,
 * a device or a directory. Opening a FIFO for reading blocks until a writer
 * appears (forever, and it pins a libuv thread so the process cannot exit);
 * reading /dev/zero never ends. So every such path is stat()ed and refused
 * unless it is a regular file, before it is opened. The open itself uses
 * O_NONBLOCK and the handle is fstat()ed again, so a file swapped for a FIFO
 * between the two calls is caught without blocking (O_NONBLOCK has no effect
 * on reads from regular files).
 *
 * Errors go through the caller's `fail`, so each module keeps its own error
 * class (SafetensorsError, ConfigError, DataError, ...) and message style;
 * `fail` receives the reason without the path.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";

/**
 * Builds the caller's error from a reason ("is a FIFO ...", "cannot open (ENOENT)").
 * `code` is the OS error code when there is one, so a caller can treat a
 * missing file (ENOENT) as "nothing there yet" rather than as an error.
 */
export type Fail = (reason: string, code?: string) => Error;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** Why `st` is not a file we read, or null for a regular file. */
export function notRegular(st: Stats): string | null {
  if (st.isFile()) return null;
  const kind = st.isDirectory()
    ? "a directory"
    : st.isFIFO()
      ? "a FIFO (named pipe)"
      : st.isCharacterDevice()
        ? "a character device"
        : st.isBlockDevice()
          ? "a block device"
          : st.isSocket()
            ? "a socket"
            : "not a regular file";
  return `is ${kind}, not a regular file; refused without opening it (reading it could block forever or never end)`;
}

const errnoReason = (e: unknown, what: string) => `cannot ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
/** The caller's error for an OS error `e` while doing `what`, carrying its code. */
const osFail = (fail: Fail, e: unknown, what: string) => fail(errnoReason(e, what), (e as NodeJS.ErrnoException).code);

/** Open `path` for reading, refusing anything but a regular file before it is opened. */
export async function openRegular(path: string, fail: Fail): Promise<FileHandle> {
  const before = await stat(path).catch((e: unknown) => {
    throw osFail(fail, e, "open");
  });
  const why = notRegular(before);
  if (why) throw fail(why);
  const handle = await open(path, OPEN_FLAGS).catch((e: unknown) => {
    throw osFail(fail, e, "open");
  });
  const after = notRegular(await handle.stat());
  if (after) {
    await handle.close();
    throw fail(after);
  }
  return handle;
}

/** The synchronous twin of openRegular: a file descriptor. */
export function openRegularSync(path: string, fail: Fail): number {
  let why: string | null;
  try {
    why = notRegular(statSync(path));
  } catch (e) {
    throw osFail(fail, e, "open");
  }
  if (why) throw fail(why);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw osFail(fail, e, "open");
  }
  const after = notRegular(fstatSync(fd));
  if (after) {
    closeSync(fd);
    throw fail(after);
  }
  return fd;
}

export interface ReadLimits {
  /** Refuse files larger than this many bytes before reading any (the message names both sizes). */
  maxBytes: number;
}

const tooBig = (size: number, max: number) => `is ${size} bytes, over the ${max}-byte limit for this kind of file (is it the right file?)`;

/** The whole of a regular file, at most `maxBytes` long. */
export async function readRegularFile(path: string, limits: ReadLimits, fail: Fail): Promise<Buffer> {
  const handle = await openRegular(path, fail);
  try {
    const { size } = await handle.stat();
    if (size > limits.maxBytes) throw fail(tooBig(size, limits.maxBytes));
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(buf, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } catch (e) {
    if (e instanceof Error && "code" in e) throw osFail(fail, e, "read");
    throw e;
  } finally {
    await handle.close();
  }
}

/** The synchronous twin of readRegularFile. */
export function readRegularFileSync(path: string, limits: ReadLimits, fail: Fail): Buffer {
  const fd = openRegularSync(path, fail);
  try {
    const { size } = fstatSync(fd);
    if (size > limits.maxBytes) throw fail(tooBig(size, limits.maxBytes));
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } catch (e) {
    if (e instanceof Error && "code" in e) throw osFail(fail, e, "read");
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Text of UTF-8 bytes: a leading BOM is dropped (TextDecoder's default); bytes that are not UTF-8 are an error. */
export function decodeUtf8(bytes: Uint8Array, fail: Fail): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw fail("not valid UTF-8 text");
  }
}

/** readRegularFile decoded as UTF-8 text (BOM dropped): the one way to read a user's JSON or text file. */
export async function readRegularText(path: string, limits: ReadLimits, fail: Fail): Promise<string> {
  return decodeUtf8(await readRegularFile(path, limits, fail), fail);
}

/** The synchronous twin of readRegularText. */
export function readRegularTextSync(path: string, limits: ReadLimits, fail: Fail): string {
  return decodeUtf8(readRegularFileSync(path, limits, fail), fail);
}

/**
 * readRegularText, or null where nothing exists at `path` (ENOENT): for files
 * a run writes itself (lock, metrics, caches), whose absence is a normal state
 * rather than a user's mistake. Anything else there that is not a regular
 * file is still refused through `fail`.
 */
export async function readRegularTextIfAny(path: string, limits: ReadLimits, fail: Fail): Promise<string | null> {
  const missing = new Error("ENOENT");
  try {
    return await readRegularText(path, limits, (why, code) => (code === "ENOENT" ? missing : fail(why, code)));
  } catch (e) {
    if (e === missing) return null;
    throw e;
  }
}
