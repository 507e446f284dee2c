import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json, worker/ and examples/ live). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Python worker package's parent folder (put on PYTHONPATH). */
export const WORKER_DIR = path.join(PACKAGE_ROOT, 'worker');

/** The bundled Banking77 copy used by the demo. */
export const EXAMPLES_BANKING77_DIR = path.join(PACKAGE_ROOT, 'examples', 'banking77');
export const EXAMPLES_NLUPP_DIR = path.join(PACKAGE_ROOT, 'examples', 'nlupp-banking');

/**
 * The cache for the worker's virtual environment and downloaded models:
 * `$UNDERSTUDY_CACHE`, else `$XDG_CACHE_HOME/understudy`, else `~/.cache/understudy`.
 */
export function cacheDir(environment: NodeJS.ProcessEnv = process.env): string {
  if (environment.UNDERSTUDY_CACHE) return path.resolve(environment.UNDERSTUDY_CACHE);
  const base = environment.XDG_CACHE_HOME ? environment.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'understudy');
}
