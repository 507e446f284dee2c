import { useEffect, useRef, useState, type ReactNode } from 'react';

/**
 * A modal confirmation (the native `<dialog>`): what will happen, an optional note, and a confirm button. `onConfirm`
 * gets the note; the dialog stays open with the error when it fails.
 */
export function ConfirmDialog(props: { title: string; children: ReactNode; confirmLabel: string; danger?: boolean; withNote?: boolean; onConfirm: (note: string) => Promise<void>; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm(note);
      props.onClose();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };
  return (
    <dialog ref={dialog} className="confirm" aria-label={props.title} onClose={props.onClose}>
      <h2>{props.title}</h2>
      <div className="confirm-body">{props.children}</div>
      {props.withNote !== false && <label className="field">Note (optional, kept with the decision)<input value={note} onChange={(event) => setNote(event.target.value)} maxLength={2000} /></label>}
      {error !== null && <p className="error" role="alert">{error}</p>}
      <div className="actions">
        <button type="button" onClick={() => dialog.current?.close()} disabled={busy}>Cancel</button>
        <button type="button" className={props.danger === true ? 'danger' : 'primary'} onClick={() => void confirm()} disabled={busy}>{props.confirmLabel}</button>
      </div>
    </dialog>
  );
}
