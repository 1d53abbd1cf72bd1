'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { addForward, explainError, listForwards, removeForward, setForwardEnabled, type ForwardTarget } from './forwards';
import type { StreamIdentity } from './useStreamIdentity';

/** How often the targets' states are asked for while the page is open (and visible). */
export const FORWARDS_POLL_MS = 2000;

export interface Forwards {
  /** Null until the first answer (or while the page has no stream yet). */
  targets: ForwardTarget[] | null;
  error: string | null;
  /** The last call answered 401: the panel offers to sign in. */
  signedOut: boolean;
  busy: boolean;
  /** Add a target to the page's stream (created first when there is none). Resolves true when saved. */
  add(target: { url: string; label: string }): Promise<boolean>;
  setEnabled(id: string, enabled: boolean): Promise<void>;
  remove(id: string): Promise<void>;
}

/**
 * The forward targets of the page's stream, their states polled every FORWARDS_POLL_MS while the page is visible
 * (one request at a time; polling pauses after a 401 until the next change the operator makes).
 */
export function useForwards(identity: StreamIdentity, onSignedOut: () => void): Forwards {
  const streamId = identity.stored?.id ?? null;
  const { ensureStream } = identity;
  const [targets, setTargets] = useState<ForwardTarget[] | null>(null);
  // Why the list could not be had (cleared by the next answer), and why the operator's last change failed (cleared by
  // the next change): a poll answering after a failed add must not hide why the add failed.
  const [listError, setListError] = useState<string | null>(null);
  const [changeError, setChangeError] = useState<string | null>(null);
  const [signedOut, setSignedOut] = useState(false);
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false);
  /** Bumped by every request for the list: only the latest one's answer is shown. */
  const seq = useRef(0);
  /**
   * Bumped when a change starts and when it ends: a poll whose answer may be from before the change (it was sent
   * before or during it) is not shown, or it would undo what the page shows at once (a switched checkbox flicking back).
   */
  const changes = useRef(0);
  const changing = useRef(0);
  const current = useRef(streamId);
  useEffect(() => {
    current.current = streamId;
  }, [streamId]);

  const fail = useCallback(
    (err: unknown, doing: string, show: (text: string) => void) => {
      const e = explainError(err, doing);
      show(e.text);
      setSignedOut(e.signedOut);
      if (e.signedOut) onSignedOut();
    },
    [onSignedOut],
  );

  /** Ask for the list; a poll (`force` false) is skipped while a request is out. */
  const refresh = useCallback(
    async (force = false) => {
      const id = current.current;
      if (!id || (inFlight.current && !force)) return;
      const mine = ++seq.current;
      const gen = changes.current;
      inFlight.current = true;
      try {
        const list = await listForwards(id);
        if (seq.current !== mine || current.current !== id) return;
        if (!force && (changing.current > 0 || changes.current !== gen)) return;
        setTargets(list);
        setListError(null);
        setSignedOut(false);
      } catch (err) {
        if (seq.current === mine && current.current === id) fail(err, 'show the targets of this stream', setListError);
      } finally {
        if (seq.current === mine) inFlight.current = false;
      }
    },
    [fail],
  );

  // Another stream (new stream, or forgotten): its own list. A stream made by `add` keeps the error that add met.
  const shownFor = useRef<string | null>(null);
  useEffect(() => {
    if (shownFor.current !== null && shownFor.current !== streamId) {
      setTargets(null);
      setListError(null);
      setChangeError(null);
    }
    shownFor.current = streamId;
    if (!streamId) return;
    void refresh();
  }, [streamId, refresh]);

  useEffect(() => {
    if (!streamId || signedOut) return;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') void refresh();
    }, FORWARDS_POLL_MS);
    return () => clearInterval(timer);
  }, [streamId, signedOut, refresh]);

  const change = useCallback(
    async (doing: string, act: (id: string) => Promise<unknown>): Promise<boolean> => {
      setBusy(true);
      setChangeError(null);
      changes.current++;
      changing.current++;
      try {
        const s = await ensureStream();
        current.current = s.id;
        await act(s.id);
        setSignedOut(false);
        await refresh(true); // an answer to a poll sent before the change is not shown

        return true;
      } catch (err) {
        fail(err, doing, setChangeError);
        return false;
      } finally {
        changing.current--;
        changes.current++;
        setBusy(false);
      }
    },
    [ensureStream, refresh, fail],
  );

  const add = useCallback((t: { url: string; label: string }) => change('add the target', (id) => addForward(id, t)), [change]);
  const setEnabled = useCallback(
    async (fid: string, enabled: boolean) => {
      // Shown at once (the checkbox follows the click); the server's answer, or the list after a failure, settles it.
      setTargets((ts) => ts?.map((t) => (t.id === fid ? { ...t, enabled } : t)) ?? ts);
      const ok = await change(enabled ? 'switch the target on' : 'switch the target off', (id) => setForwardEnabled(id, fid, enabled));
      if (!ok) void refresh(true);
    },
    [change, refresh],
  );
  const remove = useCallback(
    async (fid: string) => {
      await change('remove the target', (id) => removeForward(id, fid));
    },
    [change],
  );

  return { targets, error: changeError ?? listError, signedOut, busy, add, setEnabled, remove };
}
