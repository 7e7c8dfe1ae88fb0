import { describe, expectTypeOf, it } from 'vitest';
import type {
  AnyRxAgentError,
  BudgetExhaustedError,
  BudgetExhaustedInfo,
  ErrorFields,
  TimeoutError,
  TimeoutInfo,
} from '../../src/core/errors/index.js';
import { ERROR_CLASSES } from '../../src/core/errors/error-from-json.js';

type InfoOf<C> = C extends abstract new (...args: never) => { readonly info: infer I } ? I : never;
type Infos = { [K in keyof typeof ERROR_CLASSES]: InfoOf<(typeof ERROR_CLASSES)[K]> };
/** `true` for an info (or a member of an info union) with an index signature or a `cause` field. */
type Loose<T> = T extends unknown
  ? string extends keyof T
    ? true
    : 'cause' extends keyof T
      ? true
      : never
  : never;
type LooseCodes = { [K in keyof Infos]: Loose<Infos[K]> extends never ? never : K }[keyof Infos];

describe('error types', () => {
  it('take one object: the fields of their info, message and cause', () => {
    expectTypeOf<ConstructorParameters<typeof TimeoutError>>().toEqualTypeOf<[TimeoutInfo & ErrorFields]>();
    expectTypeOf<ConstructorParameters<typeof BudgetExhaustedError>>().toEqualTypeOf<
      [BudgetExhaustedInfo & ErrorFields]
    >();
  });

  it('declare every info field: no index signature, and never a cause', () => {
    expectTypeOf<LooseCodes>().toEqualTypeOf<never>();
    expectTypeOf<Loose<{ readonly reason: string; readonly [key: string]: unknown }>>().toEqualTypeOf<true>();
    expectTypeOf<Loose<{ readonly reason: string; readonly cause: unknown }>>().toEqualTypeOf<true>();
  });

  it('narrow by code', () => {
    expectTypeOf<Extract<AnyRxAgentError, { code: 'E_TIMEOUT' }>>().toEqualTypeOf<TimeoutError>();
    expectTypeOf<TimeoutError['code']>().toEqualTypeOf<'E_TIMEOUT'>();
  });
});
