import type { HostedFineTuneTarget } from '../../contracts/config.ts';
import { EnvironmentError } from '../../core/errors.ts';
import type { FineTuningHttpOptions } from './fine-tuning-http.ts';
import type { FineTuningService } from './fine-tuning-service.ts';
import { createOpenAiFineTuning } from './openai-fine-tuning.ts';
import { createTogetherFineTuning } from './together-fine-tuning.ts';

export type FineTuningServiceOptions = Partial<Pick<FineTuningHttpOptions, 'fetch' | 'maxRetries' | 'backoff' | 'timeoutMs' | 'sleep' | 'random' | 'now'>> & {
  /** Read for the target's `apiKeyEnv`; default `process.env`. */
  environment?: NodeJS.ProcessEnv;
};

/** Read a target's API key from the environment variable it names; unset is an error naming both. */
export function apiKeyFor(name: string, target: Pick<HostedFineTuneTarget, 'apiKeyEnv'>, environment: NodeJS.ProcessEnv = process.env): string {
  const key = environment[target.apiKeyEnv];
  if (key === undefined || key.trim() === '') {
    throw new EnvironmentError(`the environment variable ${target.apiKeyEnv} is not set`, {
      field: `targets.${name}.apiKeyEnv`,
      hint: `export ${target.apiKeyEnv}=… (the key is read from the environment, never from the config file)`,
    });
  }
  return key.trim();
}

/** The client for `targets.<name>` (OpenAI or Together fine-tuning), with its key from the environment. */
export function createFineTuningService(name: string, target: HostedFineTuneTarget, options: FineTuningServiceOptions = {}): FineTuningService {
  const { environment, ...http } = options;
  const settings = { ...http, baseUrl: target.baseUrl, apiKey: apiKeyFor(name, target, environment), apiKeyEnv: target.apiKeyEnv };
  return target.kind === 'openai-finetune' ? createOpenAiFineTuning(settings) : createTogetherFineTuning(settings);
}
