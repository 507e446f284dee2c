export const count = (value: number): string => value.toLocaleString('en-US');
export const shortHash = (hash: string | null | undefined): string => (hash === null || hash === undefined ? '—' : hash.slice(0, 12));
export const number = (value: number | null | undefined, digits = 4): string => (value === null || value === undefined ? '—' : value.toFixed(digits));
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
export const time = (iso: string | null): string => (iso === null ? '—' : new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }));
