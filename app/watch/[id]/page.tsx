import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { Watch } from './Watch';

const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { id } = await params;
  return { title: `Watch ${id}` };
}

export default async function WatchPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!ID_PATTERN.test(id)) notFound();
  return <Watch id={id} />;
}
