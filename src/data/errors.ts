/** Errors in data files: the message names the file and, where known, the line. */
import { AnchorError } from "../tensor/errors.js";

export class DataError extends AnchorError {
  override name = "DataError";
  constructor(
    readonly file: string,
    readonly line: number | null,
    message: string,
  ) {
    super(`${file}${line !== null ? `:${line}` : ""}: ${message}`);
  }
}
