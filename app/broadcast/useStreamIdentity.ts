'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { MAX_TITLE } from '../components/TitleField';
import { createStream, forgetStream, loadStream, saveStream, type StoredStream } from './streamStore';

export interface StreamIdentity {
  title: string;
  /** The title as sent: trimmed, at most MAX_TITLE characters. */
  cleanTitle: string;
  setTitle(title: string): void;
  /** The stream this browser broadcasts to (localStorage), if any. */
  stored: StoredStream | null;
  /** The stored stream, or a new one (one request at a time). */
  ensureStream(): Promise<StoredStream>;
  /** Keep a changed stream (e.g. with its OBS server added). */
  update(s: StoredStream): void;
  /** Forget the stored stream: the next Go live creates a new one. */
  forget(): void;
}

/** Which stream the page broadcasts to: its title, and the id and key kept in localStorage. */
export function useStreamIdentity(): StreamIdentity {
  const [title, setTitle] = useState('');
  const [stored, setStored] = useState<StoredStream | null>(null);
  const ensuring = useRef<Promise<StoredStream> | null>(null);
  const cleanTitle = title.trim().slice(0, MAX_TITLE);

  useEffect(() => {
    setStored(loadStream());
  }, []);

  const ensureStream = useCallback((): Promise<StoredStream> => {
    const existing = loadStream();
    if (existing) {
      setStored(existing);
      return Promise.resolve(existing);
    }
    ensuring.current ??= createStream(cleanTitle)
      .then((s) => {
        setStored(s);
        return s;
      })
      .finally(() => {
        ensuring.current = null;
      });
    return ensuring.current;
  }, [cleanTitle]);

  const update = useCallback((s: StoredStream) => {
    saveStream(s);
    setStored(s);
  }, []);

  const forget = useCallback(() => {
    forgetStream();
    setStored(null);
  }, []);

  return { title, cleanTitle, setTitle, stored, ensureStream, update, forget };
}
