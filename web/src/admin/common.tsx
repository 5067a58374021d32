/** What every admin section shares: loading a resource, running a form's action, money in micro-dollars. */
import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../session';

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  reload: () => void;
}

/** Calls `load` on mount, when `deps` change and on each `reload()`; keeps the last data when a reload fails. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[] = []): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (!live) return;
        setData(() => value);
        setError(null);
      },
      (err: unknown) => {
        if (live) setError(describeError(err));
      },
    );
    return () => {
      live = false;
    };
  }, [version, ...deps]);
  return { data, error, reload: () => setVersion((v) => v + 1) };
}

export interface Action {
  busy: boolean;
  error: string | null;
  /** Runs `fn`, keeping its failure as `error`; resolves true when it succeeded. */
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
  /** Shows a problem found before calling the API (an invalid field). */
  fail: (message: string) => void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, fail: setError };
}

/** An inline error (announced by screen readers), or nothing. */
export function ErrorText({ error }: { error: string | null | undefined }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

/** Loading text, a load error, or nothing once loaded. */
export function LoadState({ resource }: { resource: Resource<unknown> }) {
  if (resource.error) return <ErrorText error={resource.error} />;
  return resource.data === undefined ? <p class="muted">Loading…</p> : null;
}

/** Micro-dollars as dollars: `$1.50`, `$0.0042` for amounts under a cent. */
export function formatUsd(micros: number): string {
  const dollars = micros / 1_000_000;
  return `$${dollars !== 0 && Math.abs(dollars) < 0.01 ? dollars.toFixed(4) : dollars.toFixed(2)}`;
}

/** A dollar amount typed by the admin as micro-dollars; null for an empty or invalid field. */
export function parseUsd(text: string): number | null {
  const trimmed = text.trim().replace(/^\$/, '');
  if (!trimmed) return null;
  const dollars = Number(trimmed);
  return Number.isFinite(dollars) && dollars >= 0 ? Math.round(dollars * 1_000_000) : null;
}

/** Micro-dollars as the plain number an input field holds (`1.5`). */
export function usdInput(micros: number | null | undefined): string {
  return micros === null || micros === undefined ? '' : String(micros / 1_000_000);
}

/** A number typed into an optional field: undefined when empty. */
export function optionalNumber(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}

export function formatDate(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** The Enable/Disable, Edit and Delete buttons of a row in an admin table. */
export function RowActions({
  enabled,
  busy,
  onToggle,
  onEdit,
  onDelete,
}: {
  enabled: boolean;
  busy: boolean;
  onToggle: () => void;
  onEdit: () => void;
  onDelete: () => void;
}) {
  return (
    <>
      <button type="button" disabled={busy} onClick={onToggle}>
        {enabled ? 'Disable' : 'Enable'}
      </button>
      <button type="button" onClick={onEdit}>
        Edit
      </button>
      <button type="button" class="danger" disabled={busy} onClick={onDelete}>
        Delete
      </button>
    </>
  );
}
