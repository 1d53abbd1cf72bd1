import { formatDuration } from '../../lib/clock';

/** A moment in the viewer's local time: the time alone when it is today, else the date too. */
export function localMoment(iso: string | Date, now = new Date()): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export const lengthOf = (seconds: number) => formatDuration(seconds * 1000);
