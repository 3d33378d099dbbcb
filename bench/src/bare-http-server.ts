// The HTTP door's fair baseline: a bare fastify endpoint that runs the posted statement through
// node-postgres (the gateway's own upstream library, same upstream role) and answers its columns
// and rows as JSON, in its own process like a gateway replica. No identity, policy, masking or
// audit: what is left between it and the gateway is what phigate adds.
//   DATABASE_URL=… ROLE=… node bare-http-server.js   (prints its port)
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 32, options: `-c role=${process.env.ROLE}` });
const app = Fastify({ logger: false });
app.post('/v1/query', async (req) => {
  const body = req.body as { sql: string; params?: unknown[] };
  const r = await pool.query({ text: body.sql, values: body.params ?? [], rowMode: 'array' });
  return { columns: r.fields.map((f) => ({ name: f.name })), rows: r.rows, rowCount: r.rowCount };
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${new URL(address).port}\n`);
process.on('SIGTERM', () => void app.close().then(() => pool.end()));
