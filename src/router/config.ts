import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { Budget } from '../budget/create-budget.js';
import type { Price } from '../budget/prices.js';
import type { Agent } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectOneOf,
  expectScheduler,
} from '../core/validate.js';

/**
 * How the router picks among the deployments that can serve an attempt now:
 *
 * - `'most-headroom'`: the one whose budget has the largest share of its limit left, as it last reported.
 * - `'least-busy'`: the one with the fewest attempts in flight.
 * - `'lowest-latency'`: the one with the lowest moving estimate of time to first token plus per-token time
 *   over a typical answer; a deployment not yet measured is tried first.
 * - `'lowest-cost'`: the one whose price (`price`, else the catalog's for `model`) makes the task cheapest;
 *   deployments without a known price come last.
 * - `'weighted'`: at random, in proportion to `weight`.
 * - `'ordered'`: the first in `deployments` order.
 */
export type RouterStrategy =
  'most-headroom' | 'least-busy' | 'lowest-latency' | 'lowest-cost' | 'weighted' | 'ordered';

/** One deployment the router may send attempts to: an agent, and the budget of its own rate limits. */
export interface DeploymentConfig {
  /** Names the deployment in `route` events, `state$`, `fallbacks` and messages; unique. */
  readonly id: string;
  /** What runs the attempts sent here. */
  readonly agent: Agent;
  /**
   * This deployment's own limits: each attempt sent here is reserved from it first and reconciled with its
   * usage, and a 429 from here pauses it alone. Share it through a `redisStore` (a `key` per deployment) to
   * share the limit between processes. @defaultValue no budget: the deployment never makes an attempt wait
   */
  readonly budget?: Budget;
  /** `'fallback'` serves only when no primary deployment can. @defaultValue 'primary' */
  readonly role?: 'primary' | 'fallback';
  /** Share of attempts under the `'weighted'` strategy, above 0. @defaultValue 1 */
  readonly weight?: number;
  /**
   * The task models (`task.params.model`) this deployment serves; a task naming another model never comes
   * here. A task that names no model may go anywhere. @defaultValue any model
   */
  readonly models?: readonly string[];
  /** The model this deployment runs, whose catalog price `'lowest-cost'` uses. @defaultValue the task's model */
  readonly model?: string;
  /** Dollars per one million tokens, for `'lowest-cost'`; overrides the catalog. @defaultValue the catalog's */
  readonly price?: Price;
}

/** When failures take a deployment out of service for a while. */
export interface CooldownConfig {
  /**
   * Failures (429s, 5xx, timeouts, cut streams) a deployment may have within `windowMs`; one more cools
   * it down, when failures are also `failureRate` of its attempts there. @defaultValue 3
   */
  readonly allowedFails?: number;
  /** The window over which failures are counted, in ms. @defaultValue 60_000 */
  readonly windowMs?: number;
  /**
   * How long a deployment past `allowedFails` stays out, in ms; a 429's `retryAfterMs` when longer.
   * @defaultValue 5_000
   */
  readonly cooldownMs?: number;
  /**
   * The share of the attempts that ended on it within `windowMs` that must have failed too, from 0 to 1, so
   * that a busy deployment with a few failures among many successes stays in service (LiteLLM cools at
   * 50 % as well); 0 cools on the count alone. @defaultValue 0.5
   */
  readonly failureRate?: number;
}

/** Deployments (by id, in order of preference) that take a task another deployment refused for its kind. */
export interface RouterFallbacks {
  /** For a prompt longer than the deployment's context window. @defaultValue none: the task fails */
  readonly contextWindow?: readonly string[];
  /** For a refusal or a content filter (`RefusalError`, `E_REFUSED`). @defaultValue none: the task fails */
  readonly contentPolicy?: readonly string[];
}

/** Configuration of {@link router}. */
export interface RouterConfig {
  /** The deployments, at least one of them a primary. */
  readonly deployments: readonly DeploymentConfig[];
  /** How to pick among the deployments that can serve now. @defaultValue 'most-headroom' */
  readonly strategy?: RouterStrategy;
  /**
   * When failures cool a deployment down.
   * @defaultValue `{ allowedFails: 3, windowMs: 60_000, cooldownMs: 5_000, failureRate: 0.5 }`
   */
  readonly cooldown?: CooldownConfig;
  /** Where tasks go that a deployment refused for their context length or content. @defaultValue none */
  readonly fallbacks?: RouterFallbacks;
  /**
   * Counts the tokens of a text, for what deployments' budgets reserve (input plus the output cap), as
   * `estimateTokens` takes it. @defaultValue gpt-tokenizer's o200k_base encoding
   */
  readonly countTokens?: (text: string) => number;
  /** Random numbers in [0, 1) for the `'weighted'` strategy. @defaultValue Math.random */
  readonly random?: () => number;
  /**
   * Told once each time a deployment goes out of service until reconfigured (a 401, a spent budget).
   * @defaultValue `console.warn`
   */
  readonly warn?: (message: string) => void;
  /** Clock and timers of cooldowns. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** A deployment's configuration once checked, with its defaults. */
export interface ResolvedDeployment {
  readonly id: string;
  readonly agent: Agent;
  readonly budget: Budget | undefined;
  readonly role: 'primary' | 'fallback';
  readonly weight: number;
  readonly models: ReadonlySet<string> | undefined;
  readonly model: string | undefined;
  readonly price: Price | undefined;
}

/** The router's configuration once checked, with its defaults. */
export interface ResolvedRouter {
  readonly deployments: readonly ResolvedDeployment[];
  readonly strategy: RouterStrategy;
  readonly cooldown: Required<CooldownConfig>;
  readonly fallbacks: {
    readonly contextWindow: readonly string[];
    readonly contentPolicy: readonly string[];
  };
  readonly countTokens: ((text: string) => number) | undefined;
  readonly random: () => number;
  readonly warn: (message: string) => void;
  readonly scheduler: SchedulerLike;
}

const CONFIG_KEYS = [
  'deployments',
  'strategy',
  'cooldown',
  'fallbacks',
  'countTokens',
  'random',
  'warn',
  'scheduler',
] as const;
const DEPLOYMENT_KEYS = ['id', 'agent', 'budget', 'role', 'weight', 'models', 'model', 'price'] as const;
const COOLDOWN_KEYS = ['allowedFails', 'windowMs', 'cooldownMs', 'failureRate'] as const;
const FALLBACK_KEYS = ['contextWindow', 'contentPolicy'] as const;
const STRATEGIES: readonly RouterStrategy[] = [
  'most-headroom',
  'least-busy',
  'lowest-latency',
  'lowest-cost',
  'weighted',
  'ordered',
];

/** Checks a `router` configuration and merges its defaults, in one place. */
export function resolveRouterConfig(config: RouterConfig): ResolvedRouter {
  expectConfig('config', config);
  expectKnownKeys('router', config, CONFIG_KEYS);
  const list: unknown = config.deployments;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      `Expected \`deployments\` to be an array of at least one deployment, got ${describe(list)}`,
    );
  }
  const deployments = (list as unknown[]).map((value, index) => resolveDeployment(value, index));
  const seen = new Map<string, number>();
  deployments.forEach(({ id }, index) => {
    const first = seen.get(id);
    if (first !== undefined) {
      throw new TypeError(
        `Expected \`deployments[${index}].id\` to be unique, got ${JSON.stringify(id)} (string), the id of \`deployments[${first}]\` too`,
      );
    }
    seen.set(id, index);
  });
  if (!deployments.some((d) => d.role === 'primary')) {
    throw new TypeError(
      "Expected `deployments` to hold at least one deployment with `role: 'primary'`, got only fallbacks: a fallback serves only when no primary can",
    );
  }
  const scheduler =
    config.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', config.scheduler);
  const random = config.random ?? Math.random;
  expectFunction('random', random);
  const warn = config.warn ?? defaultWarn;
  expectFunction('warn', warn);
  if (config.countTokens !== undefined) expectFunction('countTokens', config.countTokens);
  return {
    deployments,
    strategy: expectOneOf('strategy', config.strategy ?? 'most-headroom', STRATEGIES),
    cooldown: resolveCooldown(config.cooldown),
    fallbacks: resolveFallbacks(config.fallbacks, seen),
    countTokens: config.countTokens,
    random,
    warn,
    scheduler,
  };
}

function defaultWarn(message: string): void {
  console.warn(message);
}

function resolveDeployment(value: unknown, index: number): ResolvedDeployment {
  const at = `deployments[${index}]`;
  expectConfig(at, value);
  const d = value as DeploymentConfig;
  expectKnownKeys(`router \`${at}\``, d, DEPLOYMENT_KEYS);
  if (typeof d.id !== 'string' || d.id === '') {
    throw new TypeError(`Expected \`${at}.id\` to be a non-empty string, got ${describe(d.id)}`);
  }
  return {
    id: d.id,
    agent: expectAgent(`${at}.agent`, d.agent),
    budget: d.budget === undefined ? undefined : expectBudget(`${at}.budget`, d.budget),
    role: expectOneOf(`${at}.role`, d.role ?? 'primary', ['primary', 'fallback']),
    weight: expectWeight(`${at}.weight`, d.weight ?? 1),
    models: d.models === undefined ? undefined : new Set(expectNames(`${at}.models`, d.models)),
    model: d.model === undefined ? undefined : expectName(`${at}.model`, d.model),
    price: d.price === undefined ? undefined : expectPrice(`${at}.price`, d.price),
  };
}

/** Throws `TypeError` unless `value` is an `Agent`. */
export function expectAgent(name: string, value: unknown): Agent {
  if (typeof (value as Partial<Agent> | null)?.run !== 'function') {
    throw new TypeError(
      `Expected \`${name}\` to be an Agent (an object with a \`run(task, { signal })\` method), got ${describe(value)}`,
    );
  }
  return value as Agent;
}

/** Throws `TypeError` unless `value` is a `Budget`. */
export function expectBudget(name: string, value: unknown): Budget {
  if (typeof (value as Partial<Budget> | null)?.reserve !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a Budget from createBudget(), got ${describe(value)}`);
  }
  return value as Budget;
}

function expectWeight(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`Expected \`${name}\` to be a finite number above 0, got ${describe(value)}`);
  }
  return value;
}

function expectName(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`Expected \`${name}\` to be a model name, got ${describe(value)}`);
  }
  return value;
}

function expectNames(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      `Expected \`${name}\` to be an array of at least one model name, got ${describe(value)}`,
    );
  }
  return (value as unknown[]).map((item, i) => expectName(`${name}[${i}]`, item));
}

function expectPrice(name: string, value: unknown): Price {
  expectConfig(name, value);
  expectKnownKeys(`router \`${name}\``, value as Price, ['input', 'output', 'cachedInput', 'cacheWrite']);
  const price = value as Price;
  expectNumber(`${name}.input`, price.input, 0);
  expectNumber(`${name}.output`, price.output, 0);
  if (price.cachedInput !== undefined) expectNumber(`${name}.cachedInput`, price.cachedInput, 0);
  if (price.cacheWrite !== undefined) expectNumber(`${name}.cacheWrite`, price.cacheWrite, 0);
  return price;
}

function resolveCooldown(value: CooldownConfig | undefined): Required<CooldownConfig> {
  const cooldown = value ?? {};
  expectConfig('cooldown', cooldown);
  expectKnownKeys('router `cooldown`', cooldown, COOLDOWN_KEYS);
  const windowMs = expectNumber('cooldown.windowMs', cooldown.windowMs ?? 60_000, 0);
  if (windowMs === 0) {
    throw new TypeError('Expected `cooldown.windowMs` to be a number above 0, got 0 (number)');
  }
  const failureRate = cooldown.failureRate ?? 0.5;
  if (typeof failureRate !== 'number' || !(failureRate >= 0 && failureRate <= 1)) {
    throw new TypeError(
      `Expected \`cooldown.failureRate\` to be a number from 0 to 1, got ${describe(failureRate)}`,
    );
  }
  return {
    allowedFails: expectInteger('cooldown.allowedFails', cooldown.allowedFails ?? 3, 0),
    windowMs,
    cooldownMs: expectNumber('cooldown.cooldownMs', cooldown.cooldownMs ?? 5_000, 0),
    failureRate,
  };
}

function resolveFallbacks(
  value: RouterFallbacks | undefined,
  ids: ReadonlyMap<string, number>,
): ResolvedRouter['fallbacks'] {
  const fallbacks = value ?? {};
  expectConfig('fallbacks', fallbacks);
  expectKnownKeys('router `fallbacks`', fallbacks, FALLBACK_KEYS);
  const list = (key: keyof RouterFallbacks): readonly string[] => {
    const names: unknown = fallbacks[key];
    if (names === undefined) return [];
    if (!Array.isArray(names)) {
      throw new TypeError(
        `Expected \`fallbacks.${key}\` to be an array of deployment ids, got ${describe(names)}`,
      );
    }
    return (names as unknown[]).map((name, i) => {
      if (typeof name !== 'string' || !ids.has(name)) {
        throw new TypeError(
          `Expected \`fallbacks.${key}[${i}]\` to be the id of a deployment (${[...ids.keys()].map((id) => JSON.stringify(id)).join(', ')}), got ${describe(name)}`,
        );
      }
      return name;
    });
  };
  return { contextWindow: list('contextWindow'), contentPolicy: list('contentPolicy') };
}
