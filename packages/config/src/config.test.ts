import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { fields, loadConfig, z } from './index.js';

const schema = z.object({
  PORT: fields.port(8080),
  KAFKA_BROKERS: fields.list(),
  SECRET: fields.secret(),
  LOG_LEVEL: fields.logLevel(),
});

test('loadConfig reports every problem at once', () => {
  try {
    loadConfig(schema, { PORT: 'abc', LOG_LEVEL: 'loud' });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(isAppError(err));
    assert.equal(err.code, 'COMMON_CONFIG_INVALID');
    const problems = err.details.problems as string[];
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('PORT')));
    assert.ok(problems.some((p) => p.startsWith('KAFKA_BROKERS')));
    assert.ok(problems.some((p) => p.startsWith('SECRET')));
    assert.ok(problems.some((p) => p.startsWith('LOG_LEVEL')));
  }
});

test('loadConfig parses, defaults, reads *_FILE and freezes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 's'), 'a-very-long-secret-value\n');
  const cfg = loadConfig(schema, { KAFKA_BROKERS: 'a:1, b:2', SECRET_FILE: join(dir, 's') });
  assert.equal(cfg.PORT, 8080);
  assert.deepEqual(cfg.KAFKA_BROKERS, ['a:1', 'b:2']);
  assert.equal(cfg.SECRET, 'a-very-long-secret-value');
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.KAFKA_BROKERS));
});
