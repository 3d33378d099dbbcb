// The demo walkthrough behind `npm run demo`: one query through the gateway as the ETL pipeline,
// a blocked statement, a held one, the AI agent stopped by its PHI budget, and the audit trail.
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, kcatArgs, need } from '@phigate/testkit';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const clip = (v: unknown, n: number) => {
  const s = v === null ? 'NULL' : String(v);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
};

async function post(token: string, sql: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ connection: 'clinical-pg', sql }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const sql = 'SELECT id, mrn, first_name, ssn, phone, email, notes FROM patients ORDER BY id LIMIT 5';
const token = await demoToken('etl-pipeline');
console.log(`\n${bold('1. The ETL pipeline asks for patients through the gateway')} (identity etl-pipeline, token from the dev IdP)`);
console.log(`   POST ${need('GATEWAY_URL')}/v1/query  {"connection":"clinical-pg","sql":"${sql}"}\n`);
const ok = await post(token, sql);
if (ok.status !== 200) {
  console.error(`unexpected answer ${ok.status}: ${JSON.stringify(ok.body)}`);
  process.exit(1);
}
const widths = [4, 11, 10, 11, 14, 11, 60];
const cols = ok.body.columns as Array<{ name: string; masking?: string }>;
console.log(`   ${cols.map((c, i) => clip(c.masking ? `${c.name}*` : c.name, widths[i] ?? 12).padEnd(widths[i] ?? 12)).join(' ')}`);
for (const row of ok.body.rows as unknown[][]) console.log(`   ${row.map((v, i) => clip(v, widths[i] ?? 12).padEnd(widths[i] ?? 12)).join(' ')}`);
console.log(
  `\n   * masked: ${cols
    .filter((c) => c.masking)
    .map((c) => `${c.name} (${c.masking})`)
    .join(', ')}`,
);
console.log(`   policy: rule ${ok.body.policy.ruleIds.join(', ')}, revision ${ok.body.policy.revision}; requestId ${ok.body.requestId}`);

console.log(`\n${bold('2. The same identity tries DROP TABLE patients')}`);
const denied = await post(token, 'DROP TABLE patients');
console.log(`   HTTP ${denied.status} ${denied.body.code}: rule ${denied.body.ruleId} — ${denied.body.reason}`);

console.log(`\n${bold('3. The AI agent asks for a social security number: the statement is held for a human')}`);
const agent = await demoToken('analytics-agent');
const heldSql = 'SELECT id, first_name, ssn FROM patients WHERE id = 7';
// Its binding requires a purpose of use: without one, nothing runs.
const unstated = await post(agent, heldSql);
console.log(`   without a purpose of use: HTTP ${unstated.status} ${unstated.body.code} (allowed: ${unstated.body.allowedPurposes?.join(', ')})`);
const purpose = { 'x-phigate-purpose': 'quality-improvement' };
const held = await post(agent, heldSql, purpose);
if (held.status !== 202) {
  console.error(`unexpected answer ${held.status}: ${JSON.stringify(held.body)}`);
  process.exit(1);
}
console.log(`   with X-Phigate-Purpose: quality-improvement: HTTP 202 ${held.body.status}: approval ${held.body.approvalId}, expires ${held.body.expiresAt}`);
const slack = await eventually('the approval message in Slack', async () => {
  const all = (await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as Array<{ text?: string }>;
  return all.find((m) => JSON.stringify(m).includes(held.body.approvalId as string));
});
console.log(`   Slack (local sink ${need('SLACK_SINK_URL')}/messages): "${slack.text}"`);
const click = await deliverClick(
  need('APPROVAL_URL'),
  signedClick({
    approvalUrl: need('APPROVAL_URL'),
    secret: need('SLACK_SIGNING_SECRET'),
    user: 'U0ALICE',
    action: 'approve',
    approvalId: held.body.approvalId,
  }),
);
console.log(`   alice clicks Approve (a Slack-signed interaction): ${click.body.outcome}`);
const result = await fetch(`${need('GATEWAY_URL')}${held.body.statusUrl}?wait=10`, { headers: { authorization: `Bearer ${agent}` } });
const resultBody = (await result.json()) as Record<string, any>;
console.log(
  `   GET ${held.body.statusUrl}?wait=10 → HTTP ${result.status} ${resultBody.status}: ${JSON.stringify(resultBody.rows)} (ssn still ${resultBody.columns?.[2]?.masking}: approval never lifts masking)`,
);

console.log(`\n${bold('4. The AI agent pages through every patient: its PHI budget stops it')} (purpose quality-improvement)`);
console.log('   Its binding allows 500 distinct patients in any 10 minutes for this purpose, shared by every gateway replica.');
let paged = 0;
let stopped: { status: number; body: Record<string, any> } | undefined;
for (let page = 0; page < 20 && !stopped; page++) {
  const r = await post(agent, `SELECT id, mrn, zip FROM patients ORDER BY id LIMIT 100 OFFSET ${page * 100}`, purpose);
  if (r.status === 200) {
    const rows = r.body.rows as unknown[][];
    paged += rows.length;
    console.log(`   page ${page + 1}: HTTP 200, ${rows.length} rows (patients ${rows[0]?.[0]}–${rows.at(-1)?.[0]})`);
  } else stopped = r;
}
if (!stopped) {
  console.error('the paging loop was never stopped');
  process.exit(1);
}
console.log(`   page ${paged / 100 + 1}: HTTP ${stopped.status} ${stopped.body.code}: ${stopped.body.message}`);
console.log('   (pages already taken in the last 10 minutes cost nothing again: a second run is stopped at the same page)');

console.log(`\n${bold('5. The audit trail')} (Kafka topic phigate.audit.v1 → audit store; auditor audra reads it)`);
const auditor = await demoToken('audra');
for (const id of [ok.body.requestId as string, denied.body.requestId as string, held.body.requestId as string]) {
  const t = await eventually('the audit timeline', async () => {
    const res = await fetch(`${need('AUDIT_URL')}/v1/requests/${id}`, { headers: { authorization: `Bearer ${auditor}` } });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { events: Array<{ type: string }> };
    // A read that ran without waiting is one query.served record; a held one completes as query.completed.
    const done = ['query.served', 'query.completed'];
    return body.events.some((e) => done.includes(e.type) || (e.type === 'policy.decided' && id === denied.body.requestId)) ? body : undefined;
  });
  console.log(`   ${id}: ${t.events.map((e) => e.type).join(' → ')}`);
}
console.log(`\n   Watch the stream yourself:  kcat ${kcatArgs().join(' ')} -C -t phigate.audit.v1 -o end`);
console.log(`   A token for your own calls:  npm run -s token -- etl-pipeline`);
console.log('   Stop everything:             npm run stack:down\n');
