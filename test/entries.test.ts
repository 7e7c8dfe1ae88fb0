// The public surface of every entry point in package.json `exports`, read with the type checker: each name a
// user can import, values and types apart. A change here is a change to the API, made on purpose.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

const SURFACE: Readonly<
  Record<string, { readonly values: readonly string[]; readonly types: readonly string[] }>
> = {
  '.': {
    values: [
      'AgentPool',
      'AsyncIterableObservable',
      'BudgetExhaustedError',
      'CancelledError',
      'ChatMessageSchema',
      'CycleError',
      'DEFAULT_MAX_OUTPUT_TOKENS',
      'DependencyFailedError',
      'DuplicateIdError',
      'ErrorJsonSchema',
      'ForbiddenError',
      'IDLE_POOL_STATE',
      'InvalidTask',
      'LimitError',
      'MaxStepsError',
      'MissingDependencyError',
      'NoResultError',
      'PlanNodeSchema',
      'ProtocolError',
      'ProviderError',
      'QueueFullError',
      'RateLimitError',
      'RefusalError',
      'ResponseFormatSchema',
      'RxAgentError',
      'SettledJsonSchema',
      'StoreUnavailableError',
      'TaskParamsSchema',
      'TaskSchema',
      'TimeoutError',
      'ToolCallSchema',
      'ToolSpecSchema',
      'UnknownToolError',
      'UsageSchema',
      'ValidationError',
      'WorkerError',
      'addUsage',
      'agentLoop',
      'agentLoopWorker',
      'allSettled',
      'compactJsonl',
      'costOf',
      'createBudget',
      'dag',
      'defaultRetryable',
      'defineTool',
      'errorFromJSON',
      'estimateTokens',
      'filterPull',
      'formatProgress',
      'fromAsyncIterable',
      'fromEmitter',
      'fromJsonl',
      'fromTasks',
      'isAgentEvent',
      'isPullable',
      'memoryStore',
      'parseDuration',
      'parsePlan',
      'parseRateLimitHeaders',
      'parseTask',
      'pool',
      'priceOf',
      'progress',
      'pullSource',
      'readDoneIds',
      'retryBackoff',
      'router',
      'runAgents',
      'runPlan',
      'settle',
      'settledToJson',
      'simulatedModel',
      'textOf',
      'throttleBudget',
      'timeoutWith',
      'toJsonl',
      'toRxAgentError',
      'withSignal',
    ],
    types: [
      'AcquireCall',
      'AcquireResult',
      'AdjustCall',
      'AdmittedRequest',
      'Agent',
      'AgentEvent',
      'AgentLoopConfig',
      'AgentLoopEvent',
      'AgentPoolConfig',
      'AgentPoolState',
      'AllSettled',
      'Amounts',
      'AnyRxAgentError',
      'Budget',
      'BudgetConfig',
      'BudgetExhaustedInfo',
      'BudgetRequest',
      'BudgetSpec',
      'BudgetState',
      'BudgetStore',
      'CancelReason',
      'CancelledInfo',
      'ChatMessage',
      'CompactResult',
      'CoolDownCall',
      'CooldownConfig',
      'CycleInfo',
      'DagConfig',
      'DagEvent',
      'DependencyFailedInfo',
      'DeploymentChanges',
      'DeploymentConfig',
      'DeploymentState',
      'DrainOptions',
      'DuplicateIdInfo',
      'ErrorCode',
      'ErrorFields',
      'ErrorJSONInput',
      'ErrorJson',
      'EstimateOptions',
      'FinishReason',
      'ForbiddenInfo',
      'FromEmitterOptions',
      'FromJsonlOptions',
      'FromTasksOptions',
      'Fulfilled',
      'HeadersLike',
      'HedgeConfig',
      'JobFormat',
      'LimitInfo',
      'LimitName',
      'LimitSpec',
      'LimitState',
      'LogEntry',
      'MaxStepsInfo',
      'MissingDependencyInfo',
      'NoResultInfo',
      'ParseResult',
      'PlanNode',
      'PoolConfig',
      'PoolOverflow',
      'PoolState',
      'Price',
      'ProgressOptions',
      'ProgressSnapshot',
      'ProgressStream',
      'ProtocolInfo',
      'ProtocolProblem',
      'ProviderErrorOptions',
      'ProviderInfo',
      'PullSource',
      'Pullable',
      'QueueFullInfo',
      'RateLimitInfo',
      'RateLimitSnapshot',
      'ReadDoneIdsOptions',
      'RefusalInfo',
      'Reservation',
      'ResponseFormat',
      'ResultFormat',
      'ResyncCall',
      'RetryBackoffConfig',
      'RetryEvent',
      'Router',
      'RouterConfig',
      'RouterFallbacks',
      'RouterState',
      'RouterStrategy',
      'RunAgentsConfig',
      'RunContext',
      'RxAgentErrorJSON',
      'Settled',
      'SettledJson',
      'SimulatedAgent',
      'SimulatedFailures',
      'SimulatedFault',
      'SimulatedLatency',
      'SimulatedModelConfig',
      'SimulatedRateLimit',
      'SimulatedStats',
      'SimulatedStragglers',
      'SimulatedToolScript',
      'StoreCall',
      'StoreUnavailableInfo',
      'StoreView',
      'Task',
      'TaskEvent',
      'TaskParams',
      'ThrottleBudgetOptions',
      'TimeoutInfo',
      'TimeoutWithConfig',
      'ToJsonlOptions',
      'Tool',
      'ToolCall',
      'ToolContext',
      'ToolDefinition',
      'ToolSpec',
      'UnknownToolInfo',
      'Usage',
      'ValidationInfo',
      'Worker',
      'WorkerContext',
      'WorkerInfo',
    ],
  },
  './openai': {
    values: [
      'DEFAULT_ANTHROPIC_MODEL',
      'DEFAULT_OPENAI_MODEL',
      'defaultAgent',
      'openaiBatch',
      'openaiBatchStatus',
      'openaiModel',
    ],
    types: [
      'AnthropicChoice',
      'BatchReport',
      'DefaultAgent',
      'DefaultAgentOptions',
      'OpenAIBatchConfig',
      'OpenAIBatchStatusConfig',
      'OpenAIChoice',
      'OpenAIModelConfig',
      'SimulatedChoice',
    ],
  },
  './anthropic': {
    values: ['DEFAULT_ANTHROPIC_MAX_TOKENS', 'anthropicModel'],
    types: ['AnthropicModelConfig'],
  },
  './ai-sdk': {
    values: ['aiSdkModel'],
    types: ['AiSdkAgent', 'AiSdkLanguageModel', 'AiSdkModelConfig'],
  },
  './server': {
    values: [
      'CancelFrameSchema',
      'ClientFrameSchema',
      'MAX_PROMPT_CHARS',
      'MAX_TASKS_PER_SUBMIT',
      'MetricsFrameSchema',
      'PingFrameSchema',
      'ServerFrameSchema',
      'SubmitFrameSchema',
      'SubmittedTaskSchema',
      'SubscribeFrameSchema',
      'UnsubscribeFrameSchema',
      'dashboardHtml',
      'dashboardPage',
      'errorFrame',
      'eventToFrame',
      'frameText',
      'fromWebSocket',
      'parseClientFrame',
      'readClientFrame',
      'serve',
      'toWebSocket',
    ],
    types: [
      'AuthResult',
      'AuthorizeRequest',
      'CancelFrame',
      'ClientFrame',
      'ClientFrameResult',
      'DashboardPage',
      'ErrorFrame',
      'EventPublisher',
      'Gateway',
      'GatewayLimits',
      'MetricsFrame',
      'PerClientConfig',
      'PingFrame',
      'ServeConfig',
      'ServerFrame',
      'SubmitFrame',
      'SubmittedTask',
      'SubscribeFrame',
      'ToWebSocketOptions',
      'UnsubscribeFrame',
    ],
  },
  './redis': {
    values: ['fromRedisResults', 'fromRedisStream', 'redisStore', 'toRedisStream'],
    types: [
      'FromRedisResultsConfig',
      'FromRedisStreamConfig',
      'RedisConnectionConfig',
      'RedisGroupLost',
      'RedisStore',
      'RedisStoreConfig',
      'RedisStoreUnavailableConfig',
      'ToRedisStreamConfig',
    ],
  },
  './testing': {
    values: ['concurrencyRecorder', 'createTestScheduler', 'marbleAgent', 'recordConcurrency'],
    types: [
      'ConcurrencyRecorder',
      'ConcurrencyRecorderOptions',
      'ConcurrencyReport',
      'ConcurrencySample',
      'MarbleAgent',
      'MarbleAgentOptions',
      'MarbleRun',
      'MarbleScript',
      'MarbleScripts',
    ],
  },
};

/** The source of an export's `types` target: `./dist/server/index.d.ts` is built from `src/server/index.ts`. */
function sourceOf(target: { readonly types: string; readonly default: string }): string {
  expect(target.default).toBe(target.types.replace(/\.d\.ts$/, '.js'));
  return join(root, target.types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'));
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string } | string>;
};
const entries = Object.entries(manifest.exports).flatMap(([name, target]) =>
  typeof target === 'string' ? [] : [[name, sourceOf(target)] as const],
);

describe('entry points', () => {
  it('are the ones package.json exports, each with types and default', () => {
    expect(entries.map(([name]) => name)).toEqual(Object.keys(SURFACE));
  });

  it('export exactly the pinned names', () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(root, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
        },
      },
    );
    const program = ts.createProgram(
      entries.map(([, file]) => file),
      { ...config?.options, noEmit: true },
    );
    const checker = program.getTypeChecker();
    const actual: Record<string, { values: string[]; types: string[] }> = {};
    for (const [name, file] of entries) {
      const source = program.getSourceFile(file);
      const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
      if (module === undefined) throw new Error(`No module at ${file}`);
      const values: string[] = [];
      const types: string[] = [];
      for (const symbol of checker.getExportsOfModule(module)) {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
      }
      actual[name] = { values: values.sort(), types: types.sort() };
    }
    expect(actual).toEqual(SURFACE);
  }, 60_000);

  it('keep validation helpers and the pull symbol internal', () => {
    const everything = Object.values(SURFACE).flatMap((s) => s.values);
    expect(everything.filter((name) => /^(describe|expect[A-Z]\w*|PULL)$/.test(name))).toEqual([]);
  });
});
