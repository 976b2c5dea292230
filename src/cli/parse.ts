import { InvalidArgumentError } from "commander";

/** A commander parser for numeric flags, with the message commander prints. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number.`);
  return n;
}
