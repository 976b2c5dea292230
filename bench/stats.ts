/** Small statistics for benchmark samples. */
export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summary(xs: number[]): { min: number; median: number; max: number; n: number } {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs), n: xs.length };
}
