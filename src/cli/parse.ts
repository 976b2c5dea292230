import { InvalidArgumentError } from "commander";

/** A commander parser for numeric flags, with the message commander prints. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number.`);
  return n;
}

/** A commander parser for --endpoint: an http or https URL. */
export function parseEndpoint(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new InvalidArgumentError(`'${value}' is not an http:// or https:// URL.`);
  return value;
}
