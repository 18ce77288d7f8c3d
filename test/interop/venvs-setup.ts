/** vitest globalSetup of the interop suite: the Python environments with dlt, made by venvs.sh when missing. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  execFileSync('bash', [fileURLToPath(new URL('./venvs.sh', import.meta.url))], { stdio: 'inherit', timeout: 15 * 60_000 });
}
