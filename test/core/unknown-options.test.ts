import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { defaultAgent } from '../../src/models/openai/default-agent.js';
import { openaiModel } from '../../src/models/openai/openai.js';
import { openaiBatch } from '../../src/models/openai/openai-batch.js';
import { progress } from '../../src/sinks/progress.js';
import { readDoneIds, toJsonl } from '../../src/sinks/to-jsonl.js';
import { fromEmitter } from '../../src/sources/from-emitter.js';
import { fromTasks } from '../../src/sources/from-tasks.js';

// A misspelt option must fail loudly at creation, not be silently ignored.
describe('factories refuse options they do not know', () => {
  it.each([
    ['progress', () => progress({ totl: 5 } as never), '`totl` for progress'],
    ['toJsonl', () => toJsonl('out.jsonl', { fsnyc: true } as never), '`fsnyc` for toJsonl'],
    ['fromTasks', () => fromTasks([], { prefix: 'x' } as never), '`prefix` for fromTasks'],
    [
      'fromEmitter',
      () => fromEmitter(new EventEmitter(), 'task', { end: 'x' } as never),
      '`end` for fromEmitter',
    ],
    [
      'openaiModel',
      () => openaiModel({ model: 'm', baseUrl: 'http://x' } as never),
      '`baseUrl` for openaiModel',
    ],
    ['defaultAgent', () => defaultAgent({ simulate: {} } as never), '`simulate` for defaultAgent'],
    [
      'openaiBatch',
      () => openaiBatch({ model: 'm', baseURL: 'http://x', journl: 'j' } as never),
      '`journl` for openaiBatch',
    ],
  ])('%s', (_name, create, message) => {
    expect(create).toThrow(TypeError);
    expect(create).toThrow(`Unknown option ${message}`);
  });

  it('readDoneIds', async () => {
    await expect(readDoneIds('out.jsonl', { rejected: true } as never)).rejects.toThrow(
      'Unknown option `rejected` for readDoneIds',
    );
  });
});
