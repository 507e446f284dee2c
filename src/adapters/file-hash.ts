import { createHash } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import path from 'node:path';

/** sha256 of a file, streamed (model and adapter files are hundreds of megabytes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * sha256 over a directory: each file's relative path and sha256, in sorted order (the worker's `sha256_directory`
 * computes the same digest, so both sides can check one another).
 */
export async function sha256Directory(directory: string): Promise<string> {
  const files: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  walk(directory);
  const relative = files.map((file) => path.relative(directory, file).split(path.sep).join('/')).sort();
  const hash = createHash('sha256');
  for (const name of relative) {
    hash.update(`${name}\0`);
    hash.update(`${await sha256File(path.join(directory, name))}\n`);
  }
  return hash.digest('hex');
}
