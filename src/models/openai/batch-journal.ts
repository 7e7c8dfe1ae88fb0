import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';

/**
 * One line of a batch journal. An `upload` is written, and synced to disk, as soon as an input file is
 * uploaded and before any batch is created from it; a `batch` once the batch is created and before it is
 * polled. So after a crash every batch that can exist at the provider is found again: by its id, or — for a
 * crash between creating it and writing its line — by listing the provider's batches for the input file.
 */
export type JournalEntry =
  | {
      readonly type: 'upload';
      /** The input file's id. */
      readonly fileId: string;
      /** When the provider says the file was created, in Unix seconds: no batch from it is older. */
      readonly fileCreatedAt: number;
      readonly model: string;
      /** The custom_ids of the file, in the order of its lines. */
      readonly taskIds: readonly string[];
    }
  | { readonly type: 'batch'; readonly fileId: string; readonly batchId: string };

/** An uploaded input file as the journal knows it, with its batch once one was written. */
export interface JournaledUpload {
  readonly fileId: string;
  readonly fileCreatedAt: number;
  readonly model: string;
  readonly taskIds: readonly string[];
  readonly batchId: string | undefined;
}

/** What a journal holds: its uploads in order, and for each task id the upload that last took it. */
export interface Journal {
  readonly uploads: ReadonlyMap<string, JournaledUpload>;
  readonly byTask: ReadonlyMap<string, string>;
}

/**
 * Reads a batch journal. A missing file is an empty journal; a line that is not a journal entry (the torn
 * last line of a crash mid-write) is skipped. A task id in several uploads (submitted again after its batch
 * expired) belongs to the last.
 *
 * @example
 * const { uploads } = readJournal('results.jsonl.batches');
 */
export function readJournal(path: string): Journal {
  const uploads = new Map<string, JournaledUpload>();
  const byTask = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { uploads, byTask };
    throw error;
  }
  for (const line of text.split('\n')) {
    const entry = parseEntry(line);
    if (entry === undefined) continue;
    if (entry.type === 'upload') {
      const { type: _type, ...upload } = entry;
      uploads.set(entry.fileId, { ...upload, batchId: undefined });
      for (const id of entry.taskIds) byTask.set(id, entry.fileId);
    } else {
      const upload = uploads.get(entry.fileId);
      if (upload !== undefined) uploads.set(entry.fileId, { ...upload, batchId: entry.batchId });
    }
  }
  return { uploads, byTask };
}

/**
 * Appends an entry and syncs it to disk before returning, so what the journal says survives a crash (and a
 * power cut) from then on. A line torn by an earlier crash is ended first.
 */
export function appendJournal(path: string, entry: JournalEntry): void {
  const fd = openSync(path, 'a+');
  try {
    const { size } = fstatSync(fd);
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    writeSync(fd, `${prefix}${JSON.stringify(entry)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function parseEntry(line: string): JournalEntry | undefined {
  if (line.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const entry = value as Partial<Record<string, unknown>> | null;
  if (typeof entry !== 'object' || entry === null || typeof entry['fileId'] !== 'string') return undefined;
  if (entry['type'] === 'batch' && typeof entry['batchId'] === 'string') {
    return { type: 'batch', fileId: entry['fileId'], batchId: entry['batchId'] };
  }
  const ids = entry['taskIds'];
  if (
    entry['type'] === 'upload' &&
    typeof entry['model'] === 'string' &&
    typeof entry['fileCreatedAt'] === 'number' &&
    Array.isArray(ids) &&
    ids.every((id) => typeof id === 'string')
  ) {
    return {
      type: 'upload',
      fileId: entry['fileId'],
      fileCreatedAt: entry['fileCreatedAt'],
      model: entry['model'],
      taskIds: ids,
    };
  }
  return undefined;
}
