import type { BudgetState } from '../budget/create-budget.js';
import type { PoolState } from '../operators/pool.js';
import type { GatewayClient } from './gateway-client.js';
import type { MetricsFrame } from '../wire/protocol.js';
import type { Tenant } from './tenant.js';

/** What the whole gateway's `metrics` frame is made of. */
export interface GatewayFigures {
  readonly pool: PoolState;
  /** Tasks held back for their identity's slots. */
  readonly waiting: number;
  readonly tokensPerMinute: number;
  readonly clients: number;
  readonly budget: BudgetState | undefined;
}

/**
 * Sends each client its `metrics` frame when it changed: the whole gateway's to those `authorize` admits,
 * its own identity's to the others. Figures are computed once per tick, not once per client.
 */
export function sendMetrics(clients: Iterable<GatewayClient>, figures: () => GatewayFigures): void {
  let gateway: MetricsFrame | undefined;
  const byIdentity = new Map<string, MetricsFrame>();
  for (const client of clients) {
    let frame: MetricsFrame;
    if (client.seesGateway) frame = gateway ??= gatewayMetrics(figures());
    else {
      frame = byIdentity.get(client.identity) ?? identityMetrics(client.tenant);
      byIdentity.set(client.identity, frame);
    }
    const text = JSON.stringify(frame);
    if (text === client.lastMetrics) continue;
    client.lastMetrics = text;
    client.send(frame, text);
  }
}

function gatewayMetrics(figures: GatewayFigures): MetricsFrame {
  const { pool } = figures;
  return {
    type: 'metrics',
    scope: 'gateway',
    queued: pool.queued + figures.waiting,
    inFlight: pool.inFlight,
    completed: pool.completed,
    failed: pool.failed,
    tokensPerMinute: figures.tokensPerMinute,
    clients: figures.clients,
    ...(figures.budget === undefined ? {} : { budget: figures.budget }),
  };
}

function identityMetrics(tenant: Tenant): MetricsFrame {
  // Counted as tasks come and go, not by a scan every tick: accepted and not settled, less those running.
  return {
    type: 'metrics',
    scope: 'identity',
    queued: tenant.tasks.size - tenant.running,
    inFlight: tenant.running,
    completed: tenant.completed,
    failed: tenant.failed,
    tokensPerMinute: tenant.tokensPerMinute(),
  };
}
