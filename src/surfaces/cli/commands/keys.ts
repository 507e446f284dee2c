import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { formatTable, type Output } from '../output.ts';

export interface KeysOptions {
  workspace: string;
  name?: string;
  json?: boolean;
}

function openWorkspaceStore(options: KeysOptions) {
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  return openStore(path.join(workspace, 'understudy.db'));
}

/** `understudy keys create --name app`: prints the key once; the store keeps only its sha256. */
export async function runKeysCreate(options: KeysOptions, output: Output): Promise<void> {
  if (options.name === undefined || options.name.trim() === '') throw new InvalidInputError('name the key (--name), e.g. the app that uses it', { field: '--name' });
  const store = openWorkspaceStore(options);
  try {
    const { id, key } = store.createGatewayKey(options.name.trim());
    output.info(`key ${id} (${options.name}): ${key}`);
    output.info('it is shown once: the workspace keeps only its sha256');
    output.result({ ok: true, id, name: options.name.trim(), key });
  } finally {
    store.close();
  }
}

export async function runKeysList(options: KeysOptions, output: Output): Promise<void> {
  const store = openWorkspaceStore(options);
  try {
    const keys = store.listGatewayKeys();
    if (!output.json) for (const line of formatTable([['id', 'name', 'created', 'revoked'], ...keys.map((key) => [key.id, key.name, key.createdAt, key.revokedAt ?? ''])], [false, false, false, false])) output.info(line);
    output.result({ ok: true, keys });
  } finally {
    store.close();
  }
}

export async function runKeysRevoke(options: KeysOptions, output: Output, args: string[]): Promise<void> {
  const store = openWorkspaceStore(options);
  try {
    store.revokeGatewayKey(args[0]!);
    output.info(`revoked ${args[0]}; a running gateway refuses it within a second`);
    output.result({ ok: true, id: args[0] });
  } finally {
    store.close();
  }
}
