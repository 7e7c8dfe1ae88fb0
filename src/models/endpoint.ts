import { describe } from '../core/validate.js';

// How every SDK-backed model finds its endpoint and key: the config first, then the environment, refused with
// a message that says what to set. This file loads no SDK.

/** Where a provider is, and how its variables are named. */
export interface EndpointNames {
  /** The provider's own host, named in the message when no key is found: `api.openai.com`. */
  readonly host: string;
  /** Its default base URL. */
  readonly defaultURL: string;
  readonly keyVariable: string;
  readonly urlVariable: string;
  /** What may answer without a key at another URL: `a server`, `a gateway`. */
  readonly keyless: string;
}

/**
 * The API key and base URL a client is made with: `apiKey` / `baseURL`, else the named environment variables.
 * A key is required for the provider's own host; any other URL may go without (the placeholder `'no-key'`).
 */
export function resolveEndpoint(
  config: { readonly apiKey?: string | undefined; readonly baseURL?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
  names: EndpointNames,
): { readonly apiKey: string; readonly baseURL: string } {
  if (config.apiKey !== undefined && (typeof config.apiKey !== 'string' || config.apiKey === '')) {
    throw new TypeError(`Expected \`apiKey\` to be a non-empty string, got ${describe(config.apiKey)}`);
  }
  const baseURL = config.baseURL ?? nonEmpty(env[names.urlVariable]);
  if (baseURL !== undefined && !isUrl(baseURL)) {
    const name = config.baseURL === undefined ? names.urlVariable : '`baseURL`';
    throw new TypeError(`Expected ${name} to be an http(s) URL, got ${describe(baseURL)}`);
  }
  const apiKey = config.apiKey ?? nonEmpty(env[names.keyVariable]);
  if (apiKey === undefined && baseURL === undefined) {
    throw new TypeError(
      `Expected an API key for ${names.host}, got none. Pass \`apiKey\`, set ${names.keyVariable}, or point \`baseURL\` (${names.urlVariable}) at ${names.keyless} that needs no key.`,
    );
  }
  // Given explicitly, so an SDK reads neither process.env nor credential files behind `env`'s back; a server
  // that needs no key ignores the placeholder.
  return { apiKey: apiKey ?? 'no-key', baseURL: baseURL ?? names.defaultURL };
}

/** A variable's value, trimmed; `undefined` when unset or blank. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function isUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
