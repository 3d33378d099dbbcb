import type { Analysis } from '@phigate/model';
import { fingerprintSync, loadModule, parseSync } from 'libpg-query';
import sqlParser from 'node-sql-parser';
import type { Catalog } from './catalog.js';
import { type AnalysisOptions, analyse as analyseWithNodeSql, fingerprint, type ParsedSql, type SqlParser } from './node-sql-analysis.js';
import { analysePostgres, type PgParser } from './pg-analysis.js';

export { Catalog, type CatalogColumn } from './catalog.js';
export { REST_REDACTED, redactSqlLiterals } from './redact-literals.js';
export { numberedBinds, withCurrentUser } from './snowflake-lexer.js';
export { type AnalysisOptions, analysePostgres, analyseWithNodeSql, fingerprint, type ParsedSql, type PgParser, type SqlParser };

/**
 * Analyses one input in a connection's dialect against its catalog. `options` apply to Snowflake SQL (PostgreSQL has no session setting that changes name resolution). */
export type Analyser = (sql: string, dialect: 'postgresql' | 'snowflake', catalog: Catalog, defaultSchema: string, options?: AnalysisOptions) => Analysis;

/**
 * The analyser the gateway and the policy tools use: PostgreSQL's own grammar for PostgreSQL,
 * node-sql-parser for Snowflake. Loads the WASM parser first.
 */
export async function createAnalyser(): Promise<Analyser> {
  await loadModule();
  const pg: PgParser = { parse: (sql) => parseSync(sql) as unknown as ReturnType<PgParser['parse']>, fingerprint: fingerprintSync };
  const parser = new sqlParser.Parser();
  const nodeSql: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect }) as unknown as ParsedSql;
  return (sql, dialect, catalog, defaultSchema, options) =>
    dialect === 'postgresql' ? analysePostgres(sql, pg, catalog, defaultSchema) : analyseWithNodeSql(sql, dialect, nodeSql, catalog, defaultSchema, options);
}
