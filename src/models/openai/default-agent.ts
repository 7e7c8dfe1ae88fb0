import type { Agent } from '../../core/types.js';
import { describe, expectConfig, expectKnownKeys } from '../../core/validate.js';
import { openaiModel, type OpenAIModelConfig } from './openai.js';
import { anthropicModel, type AnthropicModelConfig } from '../anthropic/anthropic.js';
import { simulatedModel, type SimulatedAgent, type SimulatedModelConfig } from '../simulated.js';

/** The model `defaultAgent` uses for OpenAI when neither config nor `RXAGENT_MODEL` names one. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4o-mini';

/** The model `defaultAgent` uses for Anthropic when neither config nor `RXAGENT_MODEL` names one. */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-haiku-4-5';

/** Options of {@link defaultAgent}. */
export interface DefaultAgentOptions {
  /**
   * Where `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` and `RXAGENT_MODEL` are
   * read. @defaultValue process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * The model, as `provider:model` (`anthropic:claude-haiku-4-5`, `openai:gpt-4o-mini`), a bare model name
   * for whichever provider has credentials, or `simulated`. @defaultValue the `RXAGENT_MODEL` environment variable
   */
  readonly model?: string;
  /** Passed to `openaiModel` when OpenAI is chosen; its `apiKey`, `baseURL` or `client` also choose it. @defaultValue {} */
  readonly openai?: Omit<OpenAIModelConfig, 'env'>;
  /** Passed to `anthropicModel` when Anthropic is chosen; its `apiKey`, `baseURL` or `client` also choose it. @defaultValue {} */
  readonly anthropic?: Omit<AnthropicModelConfig, 'env' | 'model'> & { readonly model?: string };
  /** Passed to `simulatedModel` when no provider is configured. @defaultValue {} */
  readonly simulated?: SimulatedModelConfig;
}

/** The agent `defaultAgent` chose, saying which one it is. */
export type DefaultAgent = OpenAIChoice | AnthropicChoice | SimulatedChoice;

interface Choice extends Agent {
  /** One line for people, such as `openai gpt-4o-mini at https://api.openai.com/v1`; never shows the key. */
  readonly description: string;
}

/** The SDK-backed model: OpenAI or a compatible server. */
export interface OpenAIChoice extends Choice {
  /** Tells the choices apart. */
  readonly kind: 'openai';
  /** The model requests name. */
  readonly model: string;
}

/** The SDK-backed model: Anthropic's Messages API. */
export interface AnthropicChoice extends Choice {
  /** Tells the choices apart. */
  readonly kind: 'anthropic';
  /** The model requests name. */
  readonly model: string;
}

/** The offline simulated model, with what its provider side counted. */
export interface SimulatedChoice extends Choice {
  /** Tells the choices apart. */
  readonly kind: 'simulated';
  /** What the simulated provider counted so far, read afresh on every access. */
  readonly stats: SimulatedAgent['stats'];
}

const PROVIDERS = ['openai', 'anthropic'] as const;
type Provider = (typeof PROVIDERS)[number];

/**
 * The agent examples and the CLI start from, chosen by the environment so the same code runs offline and
 * against a real endpoint: the provider `model` (or `RXAGENT_MODEL`) names as `provider:model`; else OpenAI
 * when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, Anthropic when `ANTHROPIC_API_KEY` or `ANTHROPIC_BASE_URL`
 * is; else the offline `simulatedModel`. A provider named without its credentials fails with the provider's
 * own message saying what to set.
 *
 * @example
 * const agent = defaultAgent();
 * console.log(`Using ${agent.description}`);
 * agent.run({ id: 't1', input: 'Say hi' }, { signal: new AbortController().signal }).subscribe(console.log);
 */
export function defaultAgent(options: DefaultAgentOptions = {}): DefaultAgent {
  expectConfig('options', options);
  expectKnownKeys('defaultAgent', options, ['env', 'model', 'openai', 'anthropic', 'simulated']);
  if (options.openai !== undefined) expectConfig('openai', options.openai);
  if (options.anthropic !== undefined) expectConfig('anthropic', options.anthropic);
  if (options.model !== undefined && (typeof options.model !== 'string' || options.model.trim() === '')) {
    throw new TypeError(`Expected \`model\` to be a non-empty string, got ${describe(options.model)}`);
  }
  const env = options.env ?? process.env;
  const named = options.model?.trim() ?? set(env['RXAGENT_MODEL']);
  if (named === 'simulated') return simulated(options, 'simulated model');
  const { provider, model } = parseModel(named);
  const openai = options.openai ?? {};
  const anthropic = options.anthropic ?? {};
  const hasOpenAI =
    set(env['OPENAI_API_KEY']) !== undefined ||
    set(env['OPENAI_BASE_URL']) !== undefined ||
    openai.apiKey !== undefined ||
    openai.baseURL !== undefined ||
    openai.client !== undefined;
  const hasAnthropic =
    set(env['ANTHROPIC_API_KEY']) !== undefined ||
    set(env['ANTHROPIC_BASE_URL']) !== undefined ||
    anthropic.apiKey !== undefined ||
    anthropic.baseURL !== undefined ||
    anthropic.client !== undefined;
  const chosen = provider ?? (hasOpenAI ? 'openai' : hasAnthropic ? 'anthropic' : undefined);
  if (chosen === 'anthropic') {
    const name = model ?? anthropic.model ?? DEFAULT_ANTHROPIC_MODEL;
    const agent = anthropicModel({ ...anthropic, model: name, env });
    const where =
      anthropic.client === undefined
        ? withoutCredentials(
            anthropic.baseURL ?? set(env['ANTHROPIC_BASE_URL']) ?? 'https://api.anthropic.com',
          )
        : 'a custom client';
    return {
      kind: 'anthropic',
      model: name,
      description: `anthropic ${name} at ${where}`,
      ...(agent.maxOutputTokens === undefined ? {} : { maxOutputTokens: agent.maxOutputTokens }),
      run: (task, context) => agent.run(task, context),
    };
  }
  if (chosen === 'openai') {
    const name = model ?? openai.model ?? DEFAULT_OPENAI_MODEL;
    const agent = openaiModel({ ...openai, model: name, env });
    const where =
      openai.client === undefined
        ? withoutCredentials(openai.baseURL ?? set(env['OPENAI_BASE_URL']) ?? 'https://api.openai.com/v1')
        : 'a custom client';
    return {
      kind: 'openai',
      model: name,
      description: `openai ${name} at ${where}`,
      ...(agent.maxOutputTokens === undefined ? {} : { maxOutputTokens: agent.maxOutputTokens }),
      run: (task, context) => agent.run(task, context),
    };
  }
  return simulated(
    options,
    'simulated model (set OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY to use a real provider)',
  );
}

/** `anthropic:claude-haiku-4-5` → the provider and the model; a bare name has no provider. */
function parseModel(named: string | undefined): { provider?: Provider; model?: string } {
  if (named === undefined) return {};
  const colon = named.indexOf(':');
  const prefix = colon > 0 ? named.slice(0, colon) : undefined;
  if (prefix === undefined || !(PROVIDERS as readonly string[]).includes(prefix)) return { model: named };
  const model = named.slice(colon + 1).trim();
  if (model === '') {
    throw new TypeError(
      `Expected a model after "${prefix}:", as in "${prefix}:${prefix === 'openai' ? DEFAULT_OPENAI_MODEL : DEFAULT_ANTHROPIC_MODEL}"`,
    );
  }
  return { provider: prefix as Provider, model };
}

function simulated(options: DefaultAgentOptions, description: string): SimulatedChoice {
  const agent = simulatedModel(options.simulated);
  return {
    kind: 'simulated',
    description,
    maxOutputTokens: agent.maxOutputTokens,
    run: (task, context) => agent.run(task, context),
    // A getter: the simulated model's stats are a fresh view on every read.
    get stats() {
      return agent.stats;
    },
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
