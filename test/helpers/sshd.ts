// A real OpenSSH server on 127.0.0.1 for the remote-training tests: its own host key, a throwaway user key in its
// own authorized_keys, a second key it does not know (a "revoked" key), and a known_hosts file of the tests' own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  user: string;
  /** The authorized key. */
  keyFile: string;
  /** A valid key the server does not accept. */
  unknownKeyFile: string;
  knownHostsFile: string;
  directory: string;
  stop(): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function keygen(file: string): void {
  const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'understudy-test', '-f', file], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

export async function startSshd(): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install Debian's openssh-server (.ci/run does)`);
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-sshd-'));
  const hostKey = path.join(directory, 'host_key');
  const keyFile = path.join(directory, 'user_key');
  const unknownKeyFile = path.join(directory, 'unknown_key');
  keygen(hostKey);
  keygen(keyFile);
  keygen(unknownKeyFile);
  const authorized = path.join(directory, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${keyFile}.pub`), { mode: 0o600 });
  const port = await freePort();
  const config = path.join(directory, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${authorized}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    'MaxStartups 50',
    'MaxSessions 50',
    `PidFile ${path.join(directory, 'sshd.pid')}`,
    '',
  ].join('\n'));
  // sshd's privilege separation needs this folder (a fresh machine has it only while the ssh service runs).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  let log = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => { log = (log + chunk.toString('utf8')).slice(-8000); });
  await waitForPort(port, child, () => log);
  // Record the host key the way a person would after checking it: the tests then use StrictHostKeyChecking=yes.
  const knownHostsFile = path.join(directory, 'known_hosts');
  const hostPublic = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostPublic}\n`);
  return {
    port,
    user: os.userInfo().username,
    keyFile,
    unknownKeyFile,
    knownHostsFile,
    directory,
    stop() {
      child.kill('SIGTERM');
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
