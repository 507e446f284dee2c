import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { SshTarget } from '../../contracts/config.ts';
import { InvalidInputError, RemoteError } from '../../core/errors.ts';

/** One SSH host, reached with the system's `ssh` client (so users' agents, ProxyJump and ~/.ssh/config all apply). */
export interface SshConnection {
  /** `user@host:port`, for messages and records. */
  readonly address: string;
  /** Run a POSIX shell script on the host; rejects on a connection failure, resolves with the script's exit code otherwise. */
  exec(script: string, options?: { input?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Like `exec`, but a non-zero exit is a RemoteError with the script's stderr. */
  run(script: string, what: string, options?: { input?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<string>;
  /** A long-running remote command whose stdout streams back (the caller owns the child). */
  spawn(script: string): ChildProcess;
  /** A remote command fed from a local stream: pipe into `child.stdin`, then await `done`. */
  spawnWithInput(script: string): { child: ChildProcess; done: (what: string, signal?: AbortSignal) => Promise<void> };
  /**
   * Send a local file to `remotePath` whole and verified or not at all: it lands under a temporary name, is hashed
   * on the host, and only a file whose sha256 is `sha256` is renamed to `remotePath` (a mismatch is a RemoteError
   * 'checksum', and the temporary file is removed).
   */
  upload(localFile: string, remotePath: string, sha256: string, signal?: AbortSignal): Promise<void>;
  /** Copy the remote `files` (relative to `remoteDir`) into `localDir`, through tar. */
  downloadTree(remoteDir: string, files: readonly string[], localDir: string, signal?: AbortSignal): Promise<void>;
}

/** Quote a string for a POSIX shell. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `ssh://user@host:port` to a target with the defaults; other forms are a named target, not this. */
export function parseSshUrl(url: string): SshTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInputError(`not an ssh:// address: ${url}`, { field: '--on', hint: 'write ssh://user@host[:port], or the name of a target in the config' });
  }
  if (parsed.protocol !== 'ssh:' || parsed.hostname === '') {
    throw new InvalidInputError(`not an ssh:// address: ${url}`, { field: '--on', hint: 'write ssh://user@host[:port], or the name of a target in the config' });
  }
  if (parsed.password !== '') throw new InvalidInputError('a password in an ssh:// address would end up in shell history and logs: use a key', { field: '--on' });
  return {
    kind: 'ssh',
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    ...(parsed.username === '' ? {} : { user: decodeURIComponent(parsed.username) }),
    port: parsed.port === '' ? 22 : Number(parsed.port),
    strictHostKeyChecking: 'accept-new',
    dir: '.understudy-remote',
    torch: 'cuda',
    requireGpu: true,
    minFreeGb: 10,
    reconnectAttempts: 5,
    connectTimeoutSeconds: 15,
  };
}

/** The `ssh` arguments that reach the target: no prompts (a run must not hang on a password), keep-alives to notice a dead link. */
export function sshArguments(target: SshTarget): string[] {
  return [
    '-p', String(target.port),
    '-o', 'BatchMode=yes',
    '-o', `StrictHostKeyChecking=${target.strictHostKeyChecking}`,
    '-o', `ConnectTimeout=${target.connectTimeoutSeconds}`,
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=3',
    '-o', 'LogLevel=ERROR',
    ...(target.identityFile === undefined ? [] : ['-i', target.identityFile, '-o', 'IdentitiesOnly=yes']),
    ...(target.knownHostsFile === undefined ? [] : ['-o', `UserKnownHostsFile=${target.knownHostsFile}`]),
    target.user === undefined ? target.host : `${target.user}@${target.host}`,
  ];
}

export function sshAddress(target: SshTarget): string {
  return `${target.user === undefined ? '' : `${target.user}@`}${target.host}:${target.port}`;
}

/** ssh exits with 255 for its own failures; its message says which. */
export function classifySshFailure(stderr: string, address: string): RemoteError {
  const text = stderr.trim().split('\n').filter((line) => line.trim() !== '').slice(-3).join(' ');
  if (/Permission denied|Too many authentication failures|no such identity|Load key .*: (invalid|bad)/i.test(text)) {
    return new RemoteError(`${address} refused the login: ${text}`, { failure: 'auth', hint: 'check the key (identityFile) is current and in the host\'s authorized_keys, and the user name' });
  }
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(text)) {
    return new RemoteError(`${address}: the host key is unknown or changed: ${text}`, { failure: 'host-key', hint: 'verify the host\'s key and update known_hosts (knownHostsFile) before training there' });
  }
  if (/Connection refused|timed out|No route to host|Could not resolve|Name or service not known|Network is unreachable|Connection closed|Connection reset|kex_exchange_identification/i.test(text)) {
    return new RemoteError(`${address} is unreachable: ${text}`, { failure: 'unreachable', hint: 'check the host name, port and that sshd runs there' });
  }
  return new RemoteError(`ssh to ${address} failed: ${text === '' ? 'no message' : text}`, { failure: 'unreachable' });
}

/** The upload script's exit code for "arrived, but its sha256 differs" (not one that sh, cat or mv use). */
const CHECKSUM_MISMATCH = 86;

export function createSshConnection(target: SshTarget, options: { sshExecutable?: string } = {}): SshConnection {
  const ssh = options.sshExecutable ?? 'ssh';
  const base = sshArguments(target);
  const address = sshAddress(target);

  const spawnScript = (script: string, stdin: 'pipe' | 'ignore'): ChildProcess =>
    // The remote login shell runs the command; `sh -c` makes it POSIX sh whatever the user's shell is.
    spawn(ssh, [...base, `sh -c ${shQuote(script)}`], { stdio: [stdin, 'pipe', 'pipe'] });

  const exec: SshConnection['exec'] = (script, execOptions = {}) => new Promise((resolve, reject) => {
    const child = spawnScript(script, execOptions.input === undefined ? 'ignore' : 'pipe');
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-16_000); });
    if (execOptions.input !== undefined) child.stdin!.end(execOptions.input);
    const timer = execOptions.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), execOptions.timeoutMs);
    timer?.unref();
    const onAbort = (): void => { child.kill('SIGTERM'); };
    execOptions.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => reject(new RemoteError(`could not start ${ssh}: ${error.message}`, { failure: 'unreachable', cause: error, hint: 'install the OpenSSH client' })));
    child.on('close', (code, signalName) => {
      if (timer) clearTimeout(timer);
      execOptions.signal?.removeEventListener('abort', onAbort);
      if (execOptions.signal?.aborted) return reject(new RemoteError(`ssh to ${address} interrupted`, { failure: 'dropped' }));
      if (code === 255 || code === null) return reject(code === null ? new RemoteError(`ssh to ${address} ended by ${signalName ?? 'a signal'}${execOptions.timeoutMs === undefined ? '' : ` (limit ${execOptions.timeoutMs} ms)`}`, { failure: 'dropped' }) : classifySshFailure(stderr, address));
      resolve({ code, stdout, stderr });
    });
  });

  const run: SshConnection['run'] = async (script, what, runOptions) => {
    const result = await exec(script, runOptions);
    if (result.code !== 0) {
      const tail = result.stderr.trim().split('\n').slice(-6).join('\n    ');
      throw new RemoteError(`${what} on ${address} failed (exit ${result.code})${tail === '' ? '' : `:\n    ${tail}`}`, { failure: 'command' });
    }
    return result.stdout;
  };

  /** `explain` turns a script's own exit code into its error (undefined: the generic 'command' failure). */
  const transfer = (child: ChildProcess, local: Promise<void>, what: string, signal?: AbortSignal, explain?: (code: number | null, stderr: string) => RemoteError | undefined): Promise<void> => new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-8000); });
    const onAbort = (): void => { child.kill('SIGTERM'); };
    signal?.addEventListener('abort', onAbort, { once: true });
    let localError: unknown;
    local.catch((error: unknown) => { localError = error; child.kill('SIGTERM'); });
    child.on('error', (error) => reject(new RemoteError(`could not start ${ssh}: ${error.message}`, { failure: 'unreachable', cause: error })));
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      void local.then(() => undefined, () => undefined).then(() => {
        if (signal?.aborted) return reject(new RemoteError(`${what} interrupted`, { failure: 'dropped' }));
        if (localError !== undefined) return reject(localError);
        if (code === 255) return reject(classifySshFailure(stderr, address));
        const explained = code === 0 ? undefined : explain?.(code, stderr);
        if (explained !== undefined) return reject(explained);
        if (code !== 0) return reject(new RemoteError(`${what} on ${address} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' ')}`, { failure: 'command' }));
        resolve();
      });
    });
  });

  return {
    address,
    exec,
    run,
    spawn: (script) => spawnScript(script, 'ignore'),
    spawnWithInput(script) {
      const child = spawnScript(script, 'pipe');
      return { child, done: (what, signal) => transfer(child, Promise.resolve(), what, signal) };
    },
    upload(localFile, remotePath, sha256, signal) {
      const temporary = shQuote(`${remotePath}.part-${process.pid}`);
      // One script: receive, hash, and rename only a file that matches, so nothing unverified ever bears the final name.
      const script = [
        'set -e',
        `mkdir -p "$(dirname ${shQuote(remotePath)})"`,
        `cat > ${temporary}`,
        `actual=$(sha256sum ${temporary} | cut -d ' ' -f 1)`,
        `if [ "$actual" != ${shQuote(sha256)} ]; then rm -f ${temporary}; echo "$actual" >&2; exit ${CHECKSUM_MISMATCH}; fi`,
        `mv -f ${temporary} ${shQuote(remotePath)}`,
      ].join('\n');
      const child = spawnScript(script, 'pipe');
      return transfer(child, pipeline(createReadStream(localFile), child.stdin!), `sending ${localFile}`, signal, (code, stderr) => {
        if (code !== CHECKSUM_MISMATCH) return undefined;
        const actual = stderr.trim().split('\n').at(-1) ?? '';
        return new RemoteError(`${path.basename(localFile)} arrived on ${address} as ${actual === '' ? 'nothing' : actual}, not ${sha256}; it was removed there`, { failure: 'checksum', file: localFile, hint: 'the file changed while it was sent, or the link corrupts data: send it again' });
      });
    },
    downloadTree(remoteDir, files, localDir, signal) {
      mkdirSync(localDir, { recursive: true });
      const child = spawnScript(`tar -C ${shQuote(remoteDir)} -cf - ${files.map(shQuote).join(' ')}`, 'ignore');
      const untar = spawn('tar', ['-C', localDir, '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      const local = new Promise<void>((resolve, reject) => {
        let untarError = '';
        untar.stderr.on('data', (chunk: Buffer) => { untarError += chunk.toString('utf8'); });
        untar.on('error', reject);
        untar.on('close', (code) => (code === 0 ? resolve() : reject(new RemoteError(`unpacking the files from ${address} failed: ${untarError.trim()}`, { failure: 'command' }))));
      });
      child.stdout!.pipe(untar.stdin);
      return transfer(child, local, `fetching ${files.join(', ')}`, signal);
    },
  };
}

