import type { ClientConnection } from '../wire/client-connection.js';
import type { ServerFrame } from '../wire/protocol.js';
import type { Tenant } from './tenant.js';

/** One socket of an identity, as the gateway keeps it. */
export class GatewayClient {
  readonly connection: ClientConnection;
  readonly tenant: Tenant;
  /** Whether `authorize` lets it see the gateway's figures rather than only its own. */
  readonly seesGateway: boolean;
  /** Its bytes waiting when the gateway last summed them across sockets. */
  sweptAt = 0;
  /** Answered the last ping. */
  alive = true;
  /** The last metrics frame sent, to send only changes. */
  lastMetrics = '';

  constructor(connection: ClientConnection, tenant: Tenant, seesGateway: boolean) {
    this.connection = connection;
    this.tenant = tenant;
    this.seesGateway = seesGateway;
  }

  /** Who the socket is: its tenant's identity. */
  get identity(): string {
    return this.tenant.identity;
  }

  send(frame: ServerFrame, text?: string): void {
    this.connection.send(frame, text);
  }
}
