import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { Watch } from './Watch';

const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

type Props = { params: Promise<{ id: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { id } = await params;
  return { title: `Watch ${id}` };
}

export default async function WatchPage({ params, searchParams }: Props) {
  const { id } = await params;
  if (!ID_PATTERN.test(id)) notFound();
  // `?recording=<rid>` opens that recording; whatever else is there is the page's to refuse (bounded here).
  const raw = (await searchParams).recording;
  const recording = typeof raw === 'string' ? raw.slice(0, 64) : Array.isArray(raw) ? (raw[0] ?? '').slice(0, 64) : null;
  return <Watch id={id} recording={recording} />;
}
