/** "3 minutes ago", "yesterday", "just now": how long ago `then` was, seen at `now`, in English. */

const format = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** The largest unit the distance reaches is the one used (public/js/settings.js words it the same way). */
const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

export function relativeTime(then: Date, now: Date = new Date()): string {
  const seconds = (then.getTime() - now.getTime()) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s) ?? ['minute', 60];
  return format.format(Math.trunc(seconds / size) || Math.sign(seconds), unit);
}
