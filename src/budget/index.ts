export { createBudget } from './create-budget.js';
export type { Budget, BudgetConfig, BudgetRequest, BudgetState, Reservation } from './create-budget.js';
export { DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens } from './estimate.js';
export { costOf, priceOf } from './prices.js';
export type { EstimateOptions } from './estimate.js';
export type { Price } from './prices.js';
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
