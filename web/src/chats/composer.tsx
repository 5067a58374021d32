/**
 * The message box: text (Enter sends, Shift+Enter is a new line), images attached by picker or paste
 * (uploaded with POST /files, sent as `file` parts), and the model to run on.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type ModelConfig } from '../../../src/client';
import { describeError } from '../session';

export type InputPart = { type: 'text'; text: string } | { type: 'file'; file_id: string };

export interface Draft {
  content: InputPart[];
  modelConfigId: string | undefined;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;
type ImageType = (typeof IMAGE_TYPES)[number];

interface Attachment {
  fileId: string;
  name: string;
  previewUrl: string;
}

/** The enabled model configs, default first; loaded once per mount. */
export function useModelConfigs(client: ChatdClient): ModelConfig[] {
  const [configs, setConfigs] = useState<ModelConfig[]>([]);
  useEffect(() => {
    void client.api.GET('/model-configs').then((r) => {
      if (r.data)
        setConfigs([...r.data].filter((c) => c.enabled).sort((a, b) => Number(b.is_default) - Number(a.is_default)));
    });
  }, [client]);
  return configs;
}

export function Composer({
  client,
  modelConfigId,
  sendLabel,
  placeholder,
  onSend,
  autoFocus,
}: {
  client: ChatdClient;
  /** The chat's current model; the picker starts there. */
  modelConfigId?: string;
  sendLabel: string;
  placeholder: string;
  onSend: (draft: Draft) => Promise<void>;
  autoFocus?: boolean;
}) {
  const configs = useModelConfigs(client);
  const [text, setText] = useState('');
  const [model, setModel] = useState<string | undefined>(modelConfigId);
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);

  useEffect(() => setModel(modelConfigId), [modelConfigId]);
  useEffect(() => {
    if (autoFocus) box.current?.focus();
  }, []);

  const upload = async (files: Iterable<File>): Promise<void> => {
    for (const file of files) {
      if (!IMAGE_TYPES.includes(file.type as ImageType)) {
        setError(`${file.name}: only PNG, JPEG, WebP and GIF images can be attached`);
        continue;
      }
      try {
        const stored = unwrap(
          await client.api.POST('/files', {
            body: file as unknown as Record<ImageType, unknown>,
            bodySerializer: (body) => body as unknown as BodyInit,
            headers: {
              'Content-Type': file.type,
              'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`,
            },
          }),
        );
        setAttachments((prior) => [
          ...prior,
          { fileId: stored.id, name: file.name, previewUrl: URL.createObjectURL(file) },
        ]);
        setError(null);
      } catch (err) {
        setError(describeError(err));
      }
    }
  };

  const send = async (): Promise<void> => {
    const content: InputPart[] = [
      ...attachments.map((a) => ({ type: 'file' as const, file_id: a.fileId })),
      ...(text.trim() ? [{ type: 'text' as const, text }] : []),
    ];
    if (content.length === 0 || busy) return;
    setBusy(true);
    try {
      await onSend({ content, modelConfigId: model });
      setText('');
      for (const a of attachments) URL.revokeObjectURL(a.previewUrl);
      setAttachments([]);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      box.current?.focus();
    }
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {attachments.length > 0 && (
        <ul class="attachments" aria-label="Attached images">
          {attachments.map((a) => (
            <li key={a.fileId}>
              <img src={a.previewUrl} alt={a.name} />
              <button
                type="button"
                aria-label={`Remove ${a.name}`}
                onClick={() => setAttachments((prior) => prior.filter((p) => p.fileId !== a.fileId))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <label class="sr-only" for="message">
        Message
      </label>
      <textarea
        id="message"
        ref={box}
        rows={3}
        placeholder={placeholder}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onPaste={(e) => {
          const files = [...(e.clipboardData?.files ?? [])];
          if (files.length) void upload(files);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <div class="composer-bar">
        <label class="button" for="attach">
          Attach image
        </label>
        <input
          id="attach"
          class="sr-only"
          type="file"
          accept={IMAGE_TYPES.join(',')}
          multiple
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])];
            e.currentTarget.value = '';
            void upload(files);
          }}
        />
        <label for="model">Model</label>
        <select id="model" value={model ?? ''} onChange={(e) => setModel(e.currentTarget.value || undefined)}>
          {!model && <option value="">default</option>}
          {configs.map((c) => (
            <option key={c.id} value={c.id}>
              {c.display_name || c.model}
              {c.is_default ? ' (default)' : ''}
            </option>
          ))}
        </select>
        <button type="submit" class="primary" disabled={busy}>
          {sendLabel}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </form>
  );
}
