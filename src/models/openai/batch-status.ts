import { toRxAgentError } from '../../core/errors/index.js';
import { describe, expectConfig, expectKnownKeys } from '../../core/validate.js';
import { readJournal } from './batch-journal.js';
import { connector, type OpenAIBatchConfig } from './openai-batch.js';

/** Configuration of {@link openaiBatchStatus}. */
export interface OpenAIBatchStatusConfig extends Pick<
  OpenAIBatchConfig,
  'apiKey' | 'baseURL' | 'client' | 'env'
> {
  /** The journal an `openaiBatch` run wrote. */
  readonly journal: string;
}

/** One input file of a journal, and what the provider says of its batch now. */
export interface BatchReport {
  readonly fileId: string;
  readonly model: string;
  /** Tasks in the file. */
  readonly tasks: number;
  /** Absent when the journal names no batch for the file (a run stopped between upload and create). */
  readonly batchId?: string;
  /** The batch's status (`'validating'` … `'completed'`), as the provider reports it. */
  readonly status?: string;
  readonly requestCounts?: { readonly total: number; readonly completed: number; readonly failed: number };
  /** When the provider created the batch, in Unix seconds. */
  readonly createdAt?: number;
  /** Why the batch could not be retrieved. */
  readonly error?: string;
}

/**
 * What has become of every batch an `openaiBatch` run wrote to its journal: each input file with its batch's
 * status and request counts, retrieved from the provider now. A missing journal gives no reports.
 *
 * @example
 * for (const report of await openaiBatchStatus({ journal: 'results.jsonl.batches' })) {
 *   console.log(report.batchId, report.status, report.requestCounts);
 * }
 */
export async function openaiBatchStatus(config: OpenAIBatchStatusConfig): Promise<BatchReport[]> {
  expectConfig('config', config);
  expectKnownKeys('openaiBatchStatus', config, ['journal', 'apiKey', 'baseURL', 'client', 'env']);
  if (typeof config.journal !== 'string' || config.journal === '') {
    throw new TypeError(`Expected \`journal\` to be a file path, got ${describe(config.journal)}`);
  }
  const { journal, env = process.env, ...client } = config;
  const uploads = [...readJournal(journal).uploads.values()];
  if (uploads.length === 0) return [];
  const connected = await connector(client, env)();
  return Promise.all(
    uploads.map(async (upload): Promise<BatchReport> => {
      const base = { fileId: upload.fileId, model: upload.model, tasks: upload.taskIds.length };
      if (upload.batchId === undefined) return base;
      try {
        const batch = await connected.client.batches.retrieve(upload.batchId);
        return {
          ...base,
          batchId: batch.id,
          status: batch.status,
          createdAt: batch.created_at,
          ...(batch.request_counts === undefined ? {} : { requestCounts: batch.request_counts }),
        };
      } catch (thrown) {
        return { ...base, batchId: upload.batchId, error: toRxAgentError(thrown).message };
      }
    }),
  );
}
