import type { Grant, QuotaFactory } from '../../security/limits.js';

interface Window {
  used: number;
  endsAt: number;
}

/**
 * The leased limits' windows in this process (one process: the lease is only
 * the same bookkeeping twice). Ended windows are dropped as new ones are asked
 * for, at most once a window, so a user who left holds nothing for long.
 */
export const memoryQuota: QuotaFactory = ({ points, durationSeconds }) => {
  const durationMs = durationSeconds * 1000;
  const windows = new Map<string, Window>();
  let sweptAt = 0;
  return {
    async take(key): Promise<Grant> {
      const now = Date.now();
      if (now - sweptAt >= durationMs) {
        sweptAt = now;
        for (const [k, w] of windows) if (w.endsAt <= now) windows.delete(k);
      }
      let w = windows.get(key);
      if (!w || w.endsAt <= now) windows.set(key, (w = { used: 0, endsAt: now + durationMs }));
      const left = points - w.used;
      const granted = left > 0 ? Math.ceil(left / 2) : 0;
      w.used += granted;
      return { granted, windowMs: w.endsAt - now };
    },
  };
};
