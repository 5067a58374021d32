/**
 * Spend-limit periods in UTC: the window a moment falls in, and its end (when a limit resets). The
 * boundaries are where mistakes hide: the last millisecond of a period, Sundays (weeks start Monday),
 * month lengths, leap days and the turn of the year.
 */
import { periodBounds } from '../../../src/usage/period';

const at = (iso: string): Date => new Date(iso);
const bounds = (period: 'day' | 'week' | 'month', iso: string) => {
  const b = periodBounds(period, at(iso));
  return [b.start.toISOString(), b.end.toISOString()];
};

describe('periodBounds', () => {
  it.each([
    ['2026-03-10T00:00:00.000Z', '2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z'],
    ['2026-03-10T23:59:59.999Z', '2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z'],
    ['2026-12-31T12:00:00.000Z', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    // A local offset does not matter: 01:30 at +02:00 is still the previous day in UTC.
    ['2026-03-11T01:30:00.000+02:00', '2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z'],
  ])('day: %s falls in [%s, %s)', (now, start, end) => {
    expect(bounds('day', now)).toEqual([start, end]);
  });

  it.each([
    // 2026-03-09 is a Monday.
    ['2026-03-09T00:00:00.000Z', '2026-03-09T00:00:00.000Z', '2026-03-16T00:00:00.000Z'],
    ['2026-03-11T15:00:00.000Z', '2026-03-09T00:00:00.000Z', '2026-03-16T00:00:00.000Z'],
    // Sunday belongs to the week that started on the Monday before it.
    ['2026-03-15T23:59:59.999Z', '2026-03-09T00:00:00.000Z', '2026-03-16T00:00:00.000Z'],
    ['2026-03-16T00:00:00.000Z', '2026-03-16T00:00:00.000Z', '2026-03-23T00:00:00.000Z'],
    // Across months and years.
    ['2026-01-01T08:00:00.000Z', '2025-12-29T00:00:00.000Z', '2026-01-05T00:00:00.000Z'],
  ])('week: %s falls in [%s, %s)', (now, start, end) => {
    expect(bounds('week', now)).toEqual([start, end]);
  });

  it.each([
    ['2026-01-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
    ['2026-02-15T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['2028-02-29T10:00:00.000Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['2027-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z'],
  ])('month: %s falls in [%s, %s)', (now, start, end) => {
    expect(bounds('month', now)).toEqual([start, end]);
  });

  it('puts every moment of a period inside it, and the end in the next one', () => {
    for (const period of ['day', 'week', 'month'] as const) {
      const { start, end } = periodBounds(period, at('2026-07-19T18:45:12.345Z'));
      expect(start.getTime()).toBeLessThanOrEqual(at('2026-07-19T18:45:12.345Z').getTime());
      expect(periodBounds(period, new Date(end.getTime() - 1)).start).toEqual(start);
      expect(periodBounds(period, end).start).toEqual(end);
    }
  });
});
