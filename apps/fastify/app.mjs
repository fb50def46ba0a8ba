// A Fastify 5 app; the routes are the contract in apps/README.md. It listens on
// process.env.PORT (host process.env.HOST, default 127.0.0.1); on workerd the same
// listen() would have to register the port httpServerHandler serves.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 2 * 1024 * 1024 });

const pattern = (size) => Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
const sha1 = (data) => createHash('sha1').update(data).digest('hex');

// Any body that is not JSON reaches /upload as a Buffer.
app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => done(null, body));

app.get('/users/:id', async (req, reply) => {
  reply.header('X-Route', 'users');
  return { id: req.params.id, query: req.query };
});

app.post('/json', async (req, reply) => {
  reply.code(201);
  return { received: req.body ?? null, type: typeof req.body };
});

app.get('/text/:name', async (req, reply) => {
  reply.type('text/plain');
  return `hello ${req.params.name}`;
});

app.get('/buffer/:size', async (req, reply) => {
  reply.type('application/octet-stream');
  return pattern(Number(req.params.size));
});

app.get('/status/:code', async (req, reply) => {
  const value = req.headers['x-value'];
  if (value !== undefined) reply.header('X-Custom', value);
  reply.code(Number(req.params.code)).type('text/plain');
  return `status ${req.params.code}`;
});

app.get('/cookies', async (req, reply) => {
  const { a = '', b = '' } = req.query;
  reply.header('Set-Cookie', [`a=${a}; Path=/; HttpOnly`, `b=${b}; Path=/`]);
  reply.type('text/plain');
  return 'cookies set';
});

app.get('/redirect', async (req, reply) => reply.redirect(String(req.query.to ?? '/'), 302));

app.get('/stream/timed', async (req, reply) => {
  const n = Math.min(Number(req.query.n ?? 4), 8);
  reply.type('text/plain');
  return Readable.from((async function* chunks() {
    for (let i = 0; i < n; i += 1) {
      if (i > 0) await sleep(50);
      yield Buffer.from(`chunk ${i}\n`);
    }
  })());
});

app.get('/stream/piped', async (req, reply) => {
  const body = pattern(Number(req.query.size ?? 4000));
  const parts = [];
  for (let i = 0; i < body.length; i += 1000) parts.push(body.subarray(i, i + 1000));
  reply.type('application/octet-stream');
  return Readable.from(parts); // Fastify pipes a stream payload into the response
});

app.get('/etag/:id', async (req, reply) => {
  const body = `resource ${req.params.id}`;
  const etag = `"${createHash('sha1').update(body).digest('base64')}"`;
  reply.header('ETag', etag).type('text/plain');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return body;
});

app.get('/boom', async () => {
  throw new Error('boom');
});

app.post('/upload', async (req) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  return { bytes: body.length, sha1: sha1(body) };
});

app.all('/echo', async (req) => {
  const { raw } = req;
  return { method: raw.method, url: raw.url, httpVersion: raw.httpVersion,
    headers: raw.headers, rawHeaders: raw.rawHeaders };
});

// Straight node:http calls on reply.raw, with Fastify's own reply handling turned off.
app.get('/raw/write-head', (req, reply) => {
  reply.hijack();
  reply.raw.writeHead(200, ['Content-Type', 'text/plain', 'X-Raw-One', '1', 'X-Raw-Two', '2']);
  reply.raw.end('raw head');
});

app.get('/raw/flush-headers', (req, reply) => {
  reply.hijack();
  reply.raw.setHeader('Content-Type', 'text/plain');
  reply.raw.setHeader('X-Flushed', 'yes');
  reply.raw.flushHeaders();
  setTimeout(() => reply.raw.end('flushed'), 50);
});

app.get('/raw/trailers', (req, reply) => {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
  res.write('part one, ');
  res.addTrailers({ 'X-Checksum': sha1('part one, part two') });
  res.end('part two');
});

app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' }, (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
});
