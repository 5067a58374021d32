/**
 * The spend-limit period a moment falls in: UTC calendar days, weeks that start on Monday 00:00 UTC,
 * or UTC calendar months. Pure, so the boundaries (month lengths, leap years, Sunday → Monday) are unit
 * tested without a database; the end of a period is when a limit "resets".
 */
import type { UsagePeriod } from '../db/database';

export type { UsagePeriod } from '../db/database';

/** A half-open window `[start, end)`. */
export interface PeriodBounds {
  start: Date;
  end: Date;
}

const DAY_MS = 86_400_000;

/** The period of kind `period` that contains `now`. */
export function periodBounds(period: UsagePeriod, now: Date): PeriodBounds {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  switch (period) {
    case 'day': {
      const start = Date.UTC(y, m, d);
      return { start: new Date(start), end: new Date(start + DAY_MS) };
    }
    case 'week': {
      // getUTCDay: 0 is Sunday; days since the last Monday.
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      const start = Date.UTC(y, m, d - sinceMonday);
      return { start: new Date(start), end: new Date(start + 7 * DAY_MS) };
    }
    case 'month':
      // Date.UTC rolls month 12 over into January of the next year.
      return { start: new Date(Date.UTC(y, m, 1)), end: new Date(Date.UTC(y, m + 1, 1)) };
  }
}
