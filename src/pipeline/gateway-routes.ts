import type { LoadedConfig } from '../adapters/config-file.ts';
import { createEmbeddedProvider } from '../adapters/llm/embedded-provider.ts';
import { BASE_MODEL_NAME, createLlamaCppEngine, type LlamaCppEngine } from '../adapters/llm/llama-cpp-engine.ts';
import { createProviderFromConfig } from '../adapters/llm/provider-from-config.ts';
import { createHostedModelProvider } from '../adapters/finetune/hosted-model-provider.ts';
import type { HostedModelRecord, Store } from '../adapters/store/sqlite-store.ts';
import type { GatewayExperiment } from '../contracts/config.ts';
import type { GatewayLogRecord } from '../contracts/gateway.ts';
import { createCircuitBreaker, type CircuitBreaker } from '../core/ab-assignment.ts';
import { validateJsonSchema } from '../core/json-schema-validate.ts';
import type { ChatProvider, OutputConstraint } from '../contracts/provider.ts';
import { fillTemplate } from '../core/templates.ts';
import { InvalidInputError } from '../core/errors.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from './run-slice.ts';

/** Where a call goes: a provider, the model name to send it, and which side of the economics it is. */
export interface GatewayTarget {
  provider: ChatProvider;
  /** `ChatRequest.model` for the provider (an adapter name, or absent for the provider's own model). */
  requestModel?: string;
  path: GatewayLogRecord['path'];
  /** The adapter's run id, for tuned targets. */
  adapter?: string;
  describe: string;
  /** With `taskFormat`: the system prompt this target gets and the task's output constraint. */
  format?: { system: string; constraint?: OutputConstraint };
}

/** A route's experiment, resolved: the candidate target, the settings, and its circuit breaker. */
export interface ResolvedExperiment {
  settings: GatewayExperiment;
  candidate: GatewayTarget;
  breaker: CircuitBreaker;
  /** Checks an answer with the task's validator; returns why it fails, or undefined. */
  validate?: (text: string) => string | undefined;
}

/** A model alias ready to serve: the incumbent target, and an experiment when one runs on it. */
export interface ResolvedGatewayRoute extends GatewayTarget {
  alias: string;
  tasks: readonly string[];
  experiment?: ResolvedExperiment;
}

export interface GatewayRoutes {
  routes: ResolvedGatewayRoute[];
  close(): Promise<void>;
}

/**
 * Build every configured route: providers from `providers`, and one embedded llama.cpp engine for the base and
 * every adapter a route names (one base in memory, each adapter chosen per request).
 */
export async function resolveGatewayRoutes(loaded: LoadedConfig, store: Store, options: { threads?: number; sequences?: number; onMessage?: (message: string) => void } = {}): Promise<GatewayRoutes> {
  const { config } = loaded;
  const entries = Object.entries(config.gateway.routes);
  if (entries.length === 0) {
    throw new InvalidInputError('the config has no gateway routes', { file: loaded.file, field: 'gateway.routes', hint: 'add e.g. `gateway: { routes: { support-router: { target: adapter:latest } } }`' });
  }
  if (config.gateway.defaultRoute !== undefined && config.gateway.routes[config.gateway.defaultRoute] === undefined) {
    throw new InvalidInputError(`gateway.defaultRoute ${JSON.stringify(config.gateway.defaultRoute)} is not a route`, { file: loaded.file, field: 'gateway.defaultRoute' });
  }
  const seenTasks = new Map<string, string>();
  for (const [alias, route] of entries) {
    for (const task of route.tasks) {
      const other = seenTasks.get(task);
      if (other !== undefined) throw new InvalidInputError(`task ${JSON.stringify(task)} is routed to both ${other} and ${alias}`, { file: loaded.file, field: `gateway.routes.${alias}.tasks` });
      seenTasks.set(task, alias);
    }
  }

  const providers = new Map<string, ChatProvider>();
  /** Adapters by the engine name they are registered under (`<alias>` or `<alias>/candidate`). */
  const adapters = new Map<string, { runId: string; path: string }>();
  /** Runs fine-tuned at a hosted service, by the same keys: answered at the service, not on the engine. */
  const hostedTargets = new Map<string, HostedModelRecord>();
  /** One provider per hosted run, shared by the routes that name it. */
  const hostedProviders = new Map<string, ChatProvider>();
  const targets: { key: string; alias: string; target: string; field: string }[] = [];
  for (const [alias, route] of entries) {
    targets.push({ key: alias, alias, target: route.target, field: `gateway.routes.${alias}.target` });
    if (route.experiment !== undefined) targets.push({ key: `${alias}/candidate`, alias, target: route.experiment.candidate, field: `gateway.routes.${alias}.experiment.candidate` });
  }
  for (const { key, alias, target, field } of targets) {
    if (target.startsWith('provider:')) {
      const name = target.slice('provider:'.length);
      const provider = config.providers[name];
      if (provider === undefined) throw new InvalidInputError(`route ${alias}: no provider named ${JSON.stringify(name)}`, { file: loaded.file, field });
      if (!providers.has(name)) providers.set(name, createProviderFromConfig(name, provider, config.pricing));
    } else if (target.startsWith('adapter:')) {
      const wanted = target.slice('adapter:'.length);
      const finished = (runId: string): boolean => store.getAdapterForRun(runId) !== undefined || store.getHostedModelForRun(runId) !== undefined;
      const run = wanted === 'latest' ? store.listRuns().find((candidate) => candidate.status === 'succeeded' && finished(candidate.id)) : store.getRun(wanted);
      const hosted = run === undefined ? undefined : store.getHostedModelForRun(run.id);
      if (hosted !== undefined) {
        hostedTargets.set(key, hosted);
        if (!hostedProviders.has(hosted.runId)) hostedProviders.set(hosted.runId, createHostedModelProvider(hosted, config.pricing, { targets: config.targets }));
        continue;
      }
      const adapter = run === undefined ? undefined : store.getAdapterForRun(run.id);
      if (run === undefined || adapter === undefined) {
        throw new InvalidInputError(`route ${alias}: ${wanted === 'latest' ? 'no finished training run in this workspace' : `no finished run ${wanted}`}`, { file: loaded.file, field, hint: 'train one with `understudy train`, or see `understudy runs list`' });
      }
      adapters.set(key, { runId: run.id, path: adapter.ggufPath });
    }
  }

  let engine: LlamaCppEngine | undefined;
  let embedded: ChatProvider | undefined;
  let baseName = 'base';
  if (targets.some(({ key, target }) => !target.startsWith('provider:') && !hostedTargets.has(key))) {
    const base = await resolveBaseModel(loaded, options.onMessage);
    const template = await resolveBaseChatTemplate(loaded, base);
    baseName = base.name;
    engine = await createLlamaCppEngine({
      modelPath: base.ggufPath,
      chatTemplate: template.source,
      sequences: options.sequences ?? 4,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      adapters: [...adapters].map(([alias, adapter]) => ({ name: alias, path: adapter.path })),
    });
    embedded = createEmbeddedProvider({ engine, ...(config.pricing.serving === undefined ? {} : { serving: config.pricing.serving }) });
  }

  const output = config.task.output;
  const constraint: OutputConstraint | undefined =
    output.type === 'labels' ? (config.evaluation.constrainToLabels ? { kind: 'labels', labels: [...loaded.labels] } : undefined) : { kind: 'json-schema', schema: output.schema };
  const baselineSystem = fillTemplate(config.task.baselinePrompt, { labels: loaded.labels.join('\n') });
  const formatFor = (taskFormat: boolean, tuned: boolean): Pick<GatewayTarget, 'format'> =>
    taskFormat ? { format: { system: tuned ? config.task.systemPrompt : baselineSystem, ...(constraint === undefined ? {} : { constraint }) } } : {};
  const targetOf = (key: string, target: string, taskFormat: boolean): GatewayTarget => {
    if (target.startsWith('provider:')) {
      const name = target.slice('provider:'.length);
      return { provider: providers.get(name)!, path: 'hosted', describe: `${name} ${config.providers[name]!.model}`, ...formatFor(taskFormat, false) };
    }
    const hosted = hostedTargets.get(key);
    if (hosted !== undefined) {
      return {
        ...formatFor(taskFormat, true),
        provider: hostedProviders.get(hosted.runId)!,
        path: 'tuned',
        adapter: hosted.runId,
        describe: `${hosted.model} (${hosted.service} fine-tune of ${hosted.baseModel}, run ${hosted.runId})`,
      };
    }
    const adapter = adapters.get(key);
    return {
      ...formatFor(taskFormat, adapter !== undefined),
      provider: embedded!,
      requestModel: adapter === undefined ? BASE_MODEL_NAME : key,
      path: 'tuned',
      ...(adapter === undefined ? {} : { adapter: adapter.runId }),
      describe: adapter === undefined ? `${baseName} (embedded base)` : `${baseName} + adapter of ${adapter.runId}`,
    };
  };
  const validator = taskValidator(loaded);
  const routes = entries.map(([alias, route]): ResolvedGatewayRoute => {
    const experiment = route.experiment;
    return {
      alias,
      tasks: route.tasks,
      ...targetOf(alias, route.target, route.taskFormat),
      ...(experiment === undefined
        ? {}
        : {
            experiment: {
              settings: experiment,
              candidate: targetOf(`${alias}/candidate`, experiment.candidate, route.taskFormat),
              breaker: createCircuitBreaker({ failures: experiment.breakerFailures, cooldownMs: experiment.breakerCooldownMs }),
              ...(experiment.validate ? { validate: validator } : {}),
            },
          }),
    };
  });
  return {
    routes,
    async close() {
      for (const provider of providers.values()) await provider.close();
      for (const provider of hostedProviders.values()) await provider.close();
      await embedded?.close();
      await engine?.dispose();
    },
  };
}

/** The task's validator: a label of the set, or JSON valid under the task's schema. */
export function taskValidator(loaded: LoadedConfig): (text: string) => string | undefined {
  const output = loaded.config.task.output;
  if (output.type === 'labels') {
    const labels = new Set(loaded.labels);
    return (text) => (labels.has(text.trim()) ? undefined : `${JSON.stringify(text.slice(0, 60))} is not one of the task's labels`);
  }
  return (text) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return 'the answer is not JSON';
    }
    const violations = validateJsonSchema(output.schema, value);
    return violations.length === 0 ? undefined : `the answer breaks the task's schema: ${violations[0]!.path} ${violations[0]!.message}`;
  };
}
