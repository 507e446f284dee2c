/**
 * One base error for everything Understudy reports to a person. Each error says where the
 * problem is (file, line, field) when it knows, and whether retrying could help.
 */
export interface UnderstudyErrorOptions {
  cause?: unknown;
  /** The file the problem is in. */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
  /** Dotted field path, e.g. `training.lora.r`. */
  field?: string;
  /** A next step for the reader. */
  hint?: string;
  isRetryable?: boolean;
}

const marker = Symbol.for('understudy.error');

export class UnderstudyError extends Error {
  readonly [marker] = true;
  readonly file?: string;
  readonly line?: number;
  readonly field?: string;
  readonly hint?: string;
  readonly isRetryable: boolean;

  constructor(name: string, message: string, options: UnderstudyErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = name;
    this.file = options.file;
    this.line = options.line;
    this.field = options.field;
    this.hint = options.hint;
    this.isRetryable = options.isRetryable ?? false;
  }

  static isInstance(value: unknown): value is UnderstudyError {
    return typeof value === 'object' && value !== null && marker in value;
  }

  /** "file:line: field: message" with the parts that are known. */
  describe(): string {
    const where = [this.file, this.line === undefined ? undefined : String(this.line)].filter((part) => part !== undefined).join(':');
    const field = this.field === undefined ? '' : `${this.field}: `;
    const hint = this.hint === undefined ? '' : `\n  hint: ${this.hint}`;
    return `${where === '' ? '' : `${where}: `}${field}${this.message}${hint}`;
  }
}

/** A user-supplied file or value is wrong. */
export class InvalidInputError extends UnderstudyError {
  constructor(message: string, options: UnderstudyErrorOptions = {}) {
    super('InvalidInputError', message, options);
  }
}

/** Something this machine lacks (python3, pip, a model file). */
export class EnvironmentError extends UnderstudyError {
  constructor(message: string, options: UnderstudyErrorOptions = {}) {
    super('EnvironmentError', message, options);
  }
}

/** The Python worker failed or was interrupted. */
export class WorkerError extends UnderstudyError {
  constructor(message: string, options: UnderstudyErrorOptions = {}) {
    super('WorkerError', message, options);
  }
}

/** Why a model call failed; `isRetryable` says whether the same call may succeed later. */
export type ProviderFailure =
  | 'http-status'
  | 'timeout'
  | 'network'
  | 'bad-response'
  /** The model answered, but not within the constraint (not a label, not valid JSON for the schema): a wrong answer, not a transport failure. */
  | 'constraint-violated'
  | 'unknown-model'
  | 'unsupported-schema'
  | 'invalid-request'
  | 'aborted'
  | 'closed'
  | 'engine';

/** A model call failed: an upstream HTTP error, a timeout, garbage in the response, an unknown model or adapter. */
export class ProviderError extends UnderstudyError {
  readonly failure: ProviderFailure;
  /** The provider id (`openai`, `embedded`, ...). */
  readonly provider: string;
  /** The upstream HTTP status, for `http-status`. */
  readonly statusCode?: number;
  /** The upstream's own error message or body excerpt (secrets redacted). */
  readonly upstreamMessage?: string;
  /** Attempts made, retries included. */
  readonly attempts?: number;

  constructor(
    message: string,
    options: UnderstudyErrorOptions & { failure: ProviderFailure; provider: string; statusCode?: number; upstreamMessage?: string; attempts?: number },
  ) {
    super('ProviderError', message, options);
    this.failure = options.failure;
    this.provider = options.provider;
    this.statusCode = options.statusCode;
    this.upstreamMessage = options.upstreamMessage;
    this.attempts = options.attempts;
  }

  static override isInstance(value: unknown): value is ProviderError {
    return UnderstudyError.isInstance(value) && value.name === 'ProviderError';
  }
}

/** Turn anything thrown into a readable message. */
export function describeError(error: unknown): string {
  if (UnderstudyError.isInstance(error)) return error.describe();
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Why a remote (SSH) operation failed. `dropped`: the connection went while a run kept going on the host. */
export type RemoteFailure = 'unreachable' | 'auth' | 'host-key' | 'host-unfit' | 'command' | 'dropped' | 'checksum';

/** A remote training host could not be reached, refused us, is unfit for the run, or sent back something wrong. */
export class RemoteError extends UnderstudyError {
  readonly failure: RemoteFailure;

  constructor(message: string, options: UnderstudyErrorOptions & { failure: RemoteFailure }) {
    super('RemoteError', message, { isRetryable: options.failure === 'dropped' || options.failure === 'unreachable', ...options });
    this.failure = options.failure;
  }

  static override isInstance(value: unknown): value is RemoteError {
    return UnderstudyError.isInstance(value) && value.name === 'RemoteError';
  }
}

/**
 * Why a hosted fine-tuning call failed. `auth`: the key was refused (401/403); `rejected`: the service refused the
 * file or the job request (400/404/422), with its own message; `http-status`: another status, after any retries;
 * `job-failed`: the job itself ended failed or cancelled at the service.
 */
export type FineTuningFailure = 'auth' | 'rejected' | 'http-status' | 'network' | 'timeout' | 'bad-response' | 'aborted' | 'job-failed';

/** A hosted fine-tuning service (OpenAI, Together) refused a call, could not be reached, or ended the job unsuccessfully. */
export class FineTuningError extends UnderstudyError {
  readonly failure: FineTuningFailure;
  /** The target kind, e.g. `openai-finetune`. */
  readonly service: string;
  readonly statusCode?: number;
  /** The service's own message (secrets redacted). */
  readonly upstreamMessage?: string;
  /** Attempts made, retries included. */
  readonly attempts?: number;

  constructor(
    message: string,
    options: UnderstudyErrorOptions & { failure: FineTuningFailure; service: string; statusCode?: number; upstreamMessage?: string; attempts?: number },
  ) {
    super('FineTuningError', message, options);
    this.failure = options.failure;
    this.service = options.service;
    this.statusCode = options.statusCode;
    this.upstreamMessage = options.upstreamMessage;
    this.attempts = options.attempts;
  }

  static override isInstance(value: unknown): value is FineTuningError {
    return UnderstudyError.isInstance(value) && value.name === 'FineTuningError';
  }
}
