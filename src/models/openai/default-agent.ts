import type { Agent } from '../../core/types.js';
import { expectConfig, expectKnownKeys } from '../../core/validate.js';
import { openaiModel, type OpenAIModelConfig } from './openai.js';
import { simulatedModel, type SimulatedAgent, type SimulatedModelConfig } from '../simulated.js';

/** The model `defaultAgent` uses when neither config nor `RXAGENT_MODEL` names one. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4o-mini';

/** Options of {@link defaultAgent}. */
export interface DefaultAgentOptions {
  /** Where `OPENAI_API_KEY`, `OPENAI_BASE_URL` and `RXAGENT_MODEL` are read. @defaultValue process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Passed to `openaiModel` when a provider is configured; its `apiKey`, `baseURL` or `client` also choose it. @defaultValue {} */
  readonly openai?: Omit<OpenAIModelConfig, 'env'>;
  /** Passed to `simulatedModel` when no provider is configured. @defaultValue {} */
  readonly simulated?: SimulatedModelConfig;
}

/** The agent `defaultAgent` chose, saying which one it is. */
export type DefaultAgent = OpenAIChoice | SimulatedChoice;

interface Choice extends Agent {
  /** One line for people, such as `openai gpt-4o-mini at https://api.openai.com/v1`; never shows the key. */
  readonly description: string;
}

/** The SDK-backed model: OpenAI or a compatible server. */
export interface OpenAIChoice extends Choice {
  /** Tells the two choices apart. */
  readonly kind: 'openai';
}

/** The offline simulated model, with what its provider side counted. */
export interface SimulatedChoice extends Choice {
  /** Tells the two choices apart. */
  readonly kind: 'simulated';
  /** What the simulated provider counted so far, read afresh on every access. */
  readonly stats: SimulatedAgent['stats'];
}

/**
 * The agent examples and the CLI start from: `openaiModel` when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set
 * (model from `RXAGENT_MODEL`, else {@link DEFAULT_OPENAI_MODEL}), else the offline `simulatedModel` — so the same
 * code runs offline and against a real endpoint.
 *
 * @example
 * const agent = defaultAgent();
 * console.log(`Using ${agent.description}`);
 * agent.run({ id: 't1', input: 'Say hi' }, { signal: new AbortController().signal }).subscribe(console.log);
 */
export function defaultAgent(options: DefaultAgentOptions = {}): DefaultAgent {
  expectConfig('options', options);
  expectKnownKeys('defaultAgent', options, ['env', 'openai', 'simulated']);
  if (options.openai !== undefined) expectConfig('openai', options.openai);
  const env = options.env ?? process.env;
  const openai = options.openai ?? {};
  const apiKey = set(env['OPENAI_API_KEY']);
  const baseURL = set(env['OPENAI_BASE_URL']);
  const chosen =
    apiKey !== undefined ||
    baseURL !== undefined ||
    openai.apiKey !== undefined ||
    openai.baseURL !== undefined ||
    openai.client !== undefined;
  if (!chosen) {
    const agent = simulatedModel(options.simulated);
    return {
      kind: 'simulated',
      description: 'simulated model (set OPENAI_API_KEY or OPENAI_BASE_URL to use a real provider)',
      maxOutputTokens: agent.maxOutputTokens,
      run: (task, context) => agent.run(task, context),
      // A getter: the simulated model's stats are a fresh view on every read.
      get stats() {
        return agent.stats;
      },
    };
  }
  const model = openai.model ?? set(env['RXAGENT_MODEL']) ?? DEFAULT_OPENAI_MODEL;
  const agent = openaiModel({ ...openai, model, env });
  const where =
    openai.client === undefined
      ? withoutCredentials(openai.baseURL ?? baseURL ?? 'https://api.openai.com/v1')
      : 'a custom client';
  return {
    kind: 'openai',
    description: `openai ${model} at ${where}`,
    ...(agent.maxOutputTokens === undefined ? {} : { maxOutputTokens: agent.maxOutputTokens }),
    run: (task, context) => agent.run(task, context),
  };
}

function set(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The CLI prints the description, and a base URL may carry `user:password@`. */
function withoutCredentials(baseURL: string): string {
  const url = new URL(baseURL);
  url.username = '';
  url.password = '';
  return url.href.replace(/\/$/, '');
}
