export { serve } from './serve.js';
export type { Gateway } from './serve.js';
export type {
  AuthResult,
  AuthorizeRequest,
  GatewayLimits,
  PerClientConfig,
  ServeConfig,
} from './serve-config.js';
export { dashboardHtml, dashboardPage } from './dashboard.js';
export type { DashboardPage } from './dashboard.js';
export {
  CancelFrameSchema,
  ClientFrameSchema,
  MAX_PROMPT_CHARS,
  MAX_TASKS_PER_SUBMIT,
  MetricsFrameSchema,
  PingFrameSchema,
  ServerFrameSchema,
  SubmitFrameSchema,
  SubmittedTaskSchema,
  SubscribeFrameSchema,
  UnsubscribeFrameSchema,
  errorFrame,
  eventToFrame,
  frameText,
  parseClientFrame,
  readClientFrame,
} from '../wire/protocol.js';
export type {
  CancelFrame,
  ClientFrame,
  ClientFrameResult,
  ErrorFrame,
  MetricsFrame,
  PingFrame,
  ServerFrame,
  SubmitFrame,
  SubmittedTask,
  SubscribeFrame,
  UnsubscribeFrame,
} from '../wire/protocol.js';
export { fromWebSocket } from '../sources/from-web-socket.js';
export { toWebSocket } from '../sinks/to-web-socket.js';
export type { EventPublisher, ToWebSocketOptions } from '../sinks/to-web-socket.js';
