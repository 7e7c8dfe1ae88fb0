export { simulatedModel } from './simulated.js';
export type {
  AdmittedRequest,
  SimulatedAgent,
  SimulatedFailures,
  SimulatedFault,
  SimulatedLatency,
  SimulatedModelConfig,
  SimulatedRateLimit,
  SimulatedStats,
  SimulatedStragglers,
  SimulatedToolScript,
} from './simulated.js';
