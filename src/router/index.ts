export { router } from './router.js';
export type { Router } from './router.js';
export type {
  CooldownConfig,
  DeploymentConfig,
  RouterConfig,
  RouterFallbacks,
  RouterStrategy,
} from './config.js';
export type { DeploymentChanges, RouterState } from './router-engine.js';
export type { DeploymentState } from './deployment.js';
