/** One warehouse user (users.json). Credentials are named secret files, never inline. */
export interface UserSpec {
  name: string;
  roles: string[];
  defaultRole: string;
  /** OAuth logins: the access token's `sub` that maps to this user. */
  oauthSubject?: string;
  /** File in WAREHOUSE_SECRETS_DIR holding the password (authenticator SNOWFLAKE). */
  passwordSecret?: string;
  /** File in WAREHOUSE_SECRETS_DIR holding the RSA public key, PEM (authenticator SNOWFLAKE_JWT). */
  rsaPublicKeySecret?: string;
}

const IDENT = /^[A-Z_][A-Z0-9_$]*$/;
const SECRET_NAME = /^[A-Za-z0-9._-]+$/;

/** Validates a users file against the declared roles; every problem at once. */
export function parseUsers(raw: unknown, roles: readonly string[]): { users?: UserSpec[]; problems: string[] } {
  const problems: string[] = [];
  const list = (raw as { users?: unknown } | null)?.users;
  if (!Array.isArray(list)) return { problems: ['users: a list is required'] };
  const names = new Set<string>();
  const subjects = new Set<string>();
  for (const [i, u] of (list as Partial<UserSpec>[]).entries()) {
    const at = `users[${i}]`;
    if (typeof u?.name !== 'string' || !IDENT.test(u.name)) problems.push(`${at}.name: an upper-case identifier is required`);
    else if (names.has(u.name)) problems.push(`${at}.name: ${u.name} is declared twice`);
    else names.add(u.name);
    if (!Array.isArray(u?.roles) || !u.roles.length || !u.roles.every((r) => roles.includes(r)))
      problems.push(`${at}.roles: a non-empty list of declared roles`);
    if (typeof u?.defaultRole !== 'string' || !u.roles?.includes(u.defaultRole)) problems.push(`${at}.defaultRole: must be one of its roles`);
    if (u?.oauthSubject !== undefined) {
      if (typeof u.oauthSubject !== 'string' || !u.oauthSubject) problems.push(`${at}.oauthSubject: a non-empty string`);
      else if (subjects.has(u.oauthSubject)) problems.push(`${at}.oauthSubject: ${u.oauthSubject} maps to two users`);
      else subjects.add(u.oauthSubject);
    }
    for (const k of ['passwordSecret', 'rsaPublicKeySecret'] as const) {
      const v = u?.[k];
      if (v !== undefined && (typeof v !== 'string' || !SECRET_NAME.test(v))) problems.push(`${at}.${k}: a plain file name`);
    }
  }
  return problems.length ? { problems } : { users: list as UserSpec[], problems };
}

/** Snowflake folds an unquoted identifier to upper case; a double-quoted one is taken as written. */
export function foldIdentifier(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/""/g, '"');
  return t.toUpperCase();
}
