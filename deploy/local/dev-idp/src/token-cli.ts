/**
 * Prints a dev access token for a demo identity:  token <identity>
 *
 * Looks the identity up in clients.json, discovers the token endpoint from the dev IdP
 * (env DEV_IDP_ISSUER, default http://127.0.0.1:9400) and performs a client_credentials grant.
 * stdout carries ONLY the access token. Exit codes: 0 ok, 1 IdP unreachable/refused, 2 usage.
 */
import { findDevIdentity, loadDevIdentities } from './clients.js';

const DEFAULT_ISSUER = 'http://127.0.0.1:9400';
const TIMEOUT_MS = 5_000;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function getJson(url: string, init: RequestInit, issuer: string): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch {
    throw new CliError(`The dev IdP at ${issuer} is not reachable; start the local stack with \`npm run stack:up\`.`, 1);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    throw new CliError(`The dev IdP at ${issuer} answered ${url} with HTTP ${res.status} and a non-JSON body.`, 1);
  }
}

async function fetchToken(name: string, issuer: string = process.env.DEV_IDP_ISSUER || DEFAULT_ISSUER): Promise<string> {
  const identities = loadDevIdentities();
  const identity = findDevIdentity(identities, name);
  if (!identity) {
    const valid = identities.map((i) => i.name).join(', ');
    const what = name ? `Unknown identity "${name}"` : 'No identity given';
    throw new CliError(`${what}; valid identities are: ${valid}.`, 2);
  }
  const base = issuer.replace(/\/+$/, '');
  const discovery = await getJson(`${base}/.well-known/openid-configuration`, {}, base);
  const tokenEndpoint = (discovery.body as { token_endpoint?: unknown } | null)?.token_endpoint;
  if (discovery.status !== 200 || typeof tokenEndpoint !== 'string') {
    throw new CliError(`The dev IdP at ${base} returned no usable discovery document (HTTP ${discovery.status}).`, 1);
  }
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (process.env.DEV_IDP_RESOURCE) form.set('resource', process.env.DEV_IDP_RESOURCE);
  const { status, body } = await getJson(
    tokenEndpoint,
    {
      method: 'POST',
      headers: {
        authorization: basicAuth(identity.name, identity.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: form,
    },
    base,
  );
  const b = (body ?? {}) as { access_token?: unknown; error?: unknown; error_description?: unknown };
  if (status !== 200 || typeof b.access_token !== 'string') {
    const detail = [b.error, b.error_description].filter((x) => typeof x === 'string').join(': ');
    throw new CliError(`The dev IdP refused a token for "${name}" (HTTP ${status}${detail ? `, ${detail}` : ''}).`, 1);
  }
  return b.access_token;
}

async function main(argv: string[]): Promise<number> {
  const args = argv.filter((a) => a !== '--');
  if (args[0] === '-h' || args[0] === '--help') {
    const names = loadDevIdentities()
      .map((i) => i.name)
      .join(', ');
    process.stdout.write(`usage: token <identity>\nprints a dev access token; identities: ${names}\n`);
    return 0;
  }
  if (args.length > 1) {
    process.stderr.write('token: expected exactly one identity name, e.g. `npm run -s token -- etl-pipeline`.\n');
    return 2;
  }
  try {
    process.stdout.write(`${await fetchToken(args[0] ?? '')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`token: ${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
