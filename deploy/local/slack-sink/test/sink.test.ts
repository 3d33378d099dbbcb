import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { buildSlackSink, parseSlackBody, type SlackSink, silentLogger } from '../src/app.js';

describe('slack sink', () => {
  let sink: SlackSink;
  let base: string;
  let dir: string;
  let recordFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slack-sink-test-'));
    recordFile = join(dir, 'nested', 'records.jsonl');
    sink = buildSlackSink({ port: 0, recordFile, logger: silentLogger });
    ({ url: base } = await sink.start());
  });

  after(async () => {
    await sink?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    const res = await fetch(`${base}/messages`, { method: 'DELETE' });
    assert.equal(res.status, 200);
  });

  const postJson = (path: string, body: string, contentType = 'application/json') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  async function expectText(res: Response, status: number, text: string) {
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), text);
  }

  it('serves /healthz', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('records webhook and response_url posts in arrival order and replies ok', async () => {
    const first = { text: 'PHI access request', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }] };
    const second = { replace_original: true, text: 'approved by alice' };
    const third = { text: 'via form' };
    await expectText(await postJson('/services/T000/B000/XXXX', JSON.stringify(first)), 200, 'ok');
    await expectText(await postJson('/response/abc123', JSON.stringify(second)), 200, 'ok');
    await expectText(
      await postJson('/services/T000/B000/XXXX', new URLSearchParams({ payload: JSON.stringify(third) }).toString(), 'application/x-www-form-urlencoded'),
      200,
      'ok',
    );

    const res = await fetch(`${base}/messages`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [first, second, third]);

    const meta = (await (await fetch(`${base}/messages?meta=1`)).json()) as {
      path: string;
      receivedAt: string;
      body: unknown;
    }[];
    assert.deepEqual(
      meta.map((m) => m.path),
      ['/services/T000/B000/XXXX', '/response/abc123', '/services/T000/B000/XXXX'],
    );
    assert.deepEqual(Object.keys(meta[0] ?? {}).sort(), ['body', 'path', 'receivedAt']);
    assert.ok(!Number.isNaN(Date.parse(meta[0]?.receivedAt ?? '')));
    assert.deepEqual(
      sink.records().map((r) => r.body),
      [first, second, third],
    );

    const lines = readFileSync(recordFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { body: unknown });
    assert.deepEqual(
      lines.slice(-3).map((l) => l.body),
      [first, second, third],
    );
  });

  it('rejects malformed JSON with 400 invalid_payload and records nothing', async () => {
    await expectText(await postJson('/services/T000/B000/XXXX', '{"text":'), 400, 'invalid_payload');
    await expectText(await postJson('/response/x', 'payload=%7Bnope', 'application/x-www-form-urlencoded'), 400, 'invalid_payload');
    await expectText(await postJson('/response/x', 'text=hello', 'application/x-www-form-urlencoded'), 400, 'invalid_payload');
    assert.deepEqual(await (await fetch(`${base}/messages`)).json(), []);
  });

  it('rejects an empty body with 400 no_text', async () => {
    await expectText(await postJson('/services/T000/B000/XXXX', ''), 400, 'no_text');
    await expectText(await fetch(`${base}/response/x`, { method: 'POST' }), 400, 'no_text');
    assert.deepEqual(await (await fetch(`${base}/messages`)).json(), []);
  });

  it('DELETE /messages clears', async () => {
    await postJson('/services/T/B/X', JSON.stringify({ text: 'a' }));
    const res = await fetch(`${base}/messages`, { method: 'DELETE' });
    assert.deepEqual(await res.json(), { cleared: 1 });
    assert.deepEqual(await (await fetch(`${base}/messages`)).json(), []);
  });

  it('404s other paths', async () => {
    const res = await postJson('/api/chat.postMessage', JSON.stringify({ text: 'a' }));
    assert.equal(res.status, 404);
  });
});

describe('parseSlackBody', () => {
  it('accepts JSON sent with another content type, like Slack', () => {
    assert.deepEqual(parseSlackBody('{"text":"x"}', 'text/plain'), { text: 'x' });
  });
  it('treats {} and whitespace as no_text, arrays as invalid_payload', () => {
    assert.throws(() => parseSlackBody('{}', 'application/json'), /no_text/);
    assert.throws(() => parseSlackBody('  ', undefined), /no_text/);
    assert.throws(() => parseSlackBody('[1]', 'application/json'), /invalid_payload/);
  });
});
