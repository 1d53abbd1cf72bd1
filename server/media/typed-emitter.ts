/** A tiny typed event emitter: listeners that throw are isolated from the emitter and from each other. */
export class TypedEmitter<Events extends Record<string, unknown>> {
  private listeners = new Map<keyof Events, Set<(e: never) => void>>();

  constructor(private onListenerError: (err: unknown, event: string) => void = () => undefined) {}

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (e: never) => void);
    return () => this.off(event, fn);
  }

  off<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): void {
    this.listeners.get(event)?.delete(fn as (e: never) => void);
  }

  emit<K extends keyof Events>(event: K, e: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (e: Events[K]) => void)(e);
      } catch (err) {
        this.onListenerError(err, String(event));
      }
    }
  }
}
