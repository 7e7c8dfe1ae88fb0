export { createBudget } from './create-budget.js';
export type { Budget, BudgetConfig, BudgetRequest, BudgetState, Reservation } from './create-budget.js';
export { DEFAULT_MAX_OUTPUT_TOKENS, costOf, estimateTokens, priceOf } from './estimate.js';
export type { EstimateOptions, Price } from './estimate.js';
export { memoryStore } from './memory-store.js';
export type {
  AcquireCall,
  AcquireResult,
  AdjustCall,
  Amounts,
  BudgetSpec,
  BudgetStore,
  CoolDownCall,
  ResyncCall,
  StoreCall,
  StoreView,
} from './store.js';
export type { LimitName, LimitSpec, LimitState, LogEntry } from './token-bucket.js';
