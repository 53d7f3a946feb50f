// The ceiling of bench:review: a fastify server whose one route returns a constant.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/constant', async () => ({ ok: true }));
app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' }).then(
  (address) => process.stdout.write(`listening on ${address}\n`),
  (error: unknown) => {
    process.stderr.write(`constant server failed: ${String(error)}\n`);
    process.exit(1);
  },
);
