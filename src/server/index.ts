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
  ErrorJsonSchema,
  MAX_PROMPT_CHARS,
  MAX_TASKS_PER_SUBMIT,
  MetricsFrameSchema,
  PingFrameSchema,
  ServerFrameSchema,
  SettledJsonSchema,
  SubmitFrameSchema,
  SubmittedTaskSchema,
  SubscribeFrameSchema,
  UnsubscribeFrameSchema,
  eventToFrame,
  frameText,
  parseClientFrame,
  readClientFrame,
  settledToJson,
} from '../wire/protocol.js';
export type {
  CancelFrame,
  ClientFrame,
  ClientFrameResult,
  ErrorFrame,
  ErrorJson,
  MetricsFrame,
  PingFrame,
  ServerFrame,
  SettledJson,
  SubmitFrame,
  SubmittedTask,
  SubscribeFrame,
  UnsubscribeFrame,
} from '../wire/protocol.js';
