/** Months of `create_date`, the unit of partitions and of the archive: `YYYY-MM`, in UTC. */

/** A month as `YYYY-MM`. */
export type Month = string;

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Whether `value` is a month as `YYYY-MM`. */
export function isMonth(value: string): boolean {
  return MONTH.test(value);
}

/** The month of a date `YYYY-MM-DD`, or of a time in UTC. */
export function monthOf(date: string | Date): Month {
  return typeof date === "string" ? date.slice(0, 7) : date.toISOString().slice(0, 7);
}

/** The month `count` months after `month` (before it when negative). */
export function addMonths(month: Month, count: number): Month {
  const [year, index] = month.split("-").map(Number) as [number, number];
  return monthOf(new Date(Date.UTC(year, index - 1 + count, 1)));
}

/** The first day of `month`, `YYYY-MM-01`. */
export function firstDay(month: Month): string {
  return `${month}-01`;
}
