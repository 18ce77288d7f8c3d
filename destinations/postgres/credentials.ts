/**
 * The Postgres connection when code gives none: `TIDE_POSTGRES_URL`, else dlt's destination
 * credentials from configuration (pipeline/config.ts): `credentials` in the sections
 * `destination.postgres` (then `destination`, then the top level) as a connection URL, or as the
 * fields host, port, username, password, database of a `credentials` table / environment variables
 * (`DESTINATION__POSTGRES__CREDENTIALS__PASSWORD`). Undefined when none is configured: the embedded server.
 */
import { Configuration, missingError, type Asker, type Scope } from '../../pipeline/config.ts';

const SECTIONS = ['destination', 'postgres'];
const REQUIRED = ['host', 'database', 'username'] as const;
const ASKER: Asker = { what: 'the postgres destination (its credentials)' };

/** The connection URL tide uses when `postgres()` is given none (undefined: start the embedded server). */
export function configuredPostgresUrl(env: Readonly<Record<string, string | undefined>> = process.env, config?: Configuration): string | undefined {
  if (env.TIDE_POSTGRES_URL) return env.TIDE_POSTGRES_URL;
  const c = config ?? Configuration.load({ env });
  const whole = c.value({ sections: SECTIONS }, 'credentials');
  if (typeof whole === 'string') return whole;
  return urlFromFields(c);
}

/** `postgresql://user:password@host:port/database` from the credential fields; undefined when none is set. */
function urlFromFields(c: Configuration): string | undefined {
  const scope: Scope = { sections: SECTIONS, embedded: ['credentials'] };
  const field = (key: string) => c.value(scope, key, key === 'port' ? 'number' : 'string');
  const password = c.secret(scope, 'password', 'string')?.reveal();
  const set = [...REQUIRED, 'port'].filter((k) => field(k) !== undefined);
  if (set.length === 0 && password === undefined) return undefined;
  for (const key of REQUIRED) if (field(key) === undefined) throw missingError(c, scope, key, false, ASKER);
  const enc = (v: unknown) => encodeURIComponent(String(v));
  const auth = password === undefined ? enc(field('username')) : `${enc(field('username'))}:${enc(password)}`;
  return `postgresql://${auth}@${enc(field('host'))}:${enc(field('port') ?? 5432)}/${enc(field('database'))}`;
}
