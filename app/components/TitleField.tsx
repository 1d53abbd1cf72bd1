'use client';

/** Longest stream title the server keeps (it cuts longer ones). */
export const MAX_TITLE = 120;

/** A labelled stream-title input. */
export function TitleField({ id, value, onChange, disabled }: { id: string; value: string; onChange: (title: string) => void; disabled?: boolean }) {
  return (
    <div className="field">
      <label htmlFor={id}>Title</label>
      <input id={id} name="title" placeholder="My stream" maxLength={MAX_TITLE} value={value} onChange={(e) => onChange(e.target.value)} disabled={disabled} />
    </div>
  );
}
