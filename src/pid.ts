/**
 * Whether a process holding one of amiboot's locks still runs. EPERM means
 * alive but another user's; pid 0 or less never reaches process.kill (0 is
 * the caller's own process group, always "alive").
 */
export function pidIsAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
