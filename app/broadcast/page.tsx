import type { Metadata } from 'next';
import { BroadcastGate } from './BroadcastGate';

export const metadata: Metadata = {
  title: 'Go live',
  description: 'Broadcast your camera, microphone or screen from this browser: nothing to install.',
};

export default function BroadcastPage() {
  return (
    <>
      <h1>Go live</h1>
      <p className="lead">Pick a camera and microphone, or share your screen, and press Go live.</p>
      <BroadcastGate />
    </>
  );
}
