// A Koa 3 app with @koa/router and @koa/bodyparser; the routes are the contract in
// apps/README.md. It listens on process.env.PORT (host process.env.HOST, default
// 127.0.0.1); on workerd the same listen() registers the port httpServerHandler serves.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';

const app = new Koa();
app.silent = true; // the default error handler answers 500 without logging a stack

const router = new Router();
const pattern = (size) => Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
const sha1 = (data) => createHash('sha1').update(data).digest('hex');

async function readAll(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

router.get('/users/:id', (ctx) => {
  ctx.set('X-Route', 'users');
  ctx.body = { id: ctx.params.id, query: ctx.query };
});

router.post('/json', bodyParser({ enableTypes: ['json'], jsonStrict: false }), (ctx) => {
  ctx.status = 201;
  ctx.body = { received: ctx.request.body ?? null, type: typeof ctx.request.body };
});

router.get('/text/:name', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = `hello ${ctx.params.name}`;
});

router.get('/buffer/:size', (ctx) => {
  ctx.type = 'application/octet-stream';
  ctx.body = pattern(Number(ctx.params.size));
});

router.get('/status/:code', (ctx) => {
  const value = ctx.get('x-value');
  if (value !== '') ctx.set('X-Custom', value);
  ctx.status = Number(ctx.params.code);
  ctx.type = 'text/plain';
  ctx.body = `status ${ctx.params.code}`;
});

router.get('/cookies', (ctx) => {
  ctx.cookies.set('a', String(ctx.query.a ?? ''), { path: '/', httpOnly: true });
  ctx.cookies.set('b', String(ctx.query.b ?? ''), { path: '/', httpOnly: false });
  ctx.type = 'text/plain';
  ctx.body = 'cookies set';
});

router.get('/redirect', (ctx) => {
  ctx.redirect(String(ctx.query.to ?? '/'));
});

router.get('/stream/timed', (ctx) => {
  const n = Math.min(Number(ctx.query.n ?? 4), 8);
  ctx.type = 'text/plain';
  ctx.body = Readable.from((async function* chunks() {
    for (let i = 0; i < n; i += 1) {
      if (i > 0) await sleep(50);
      yield Buffer.from(`chunk ${i}\n`);
    }
  })());
});

router.get('/stream/piped', (ctx) => {
  const body = pattern(Number(ctx.query.size ?? 4000));
  const parts = [];
  for (let i = 0; i < body.length; i += 1000) parts.push(body.subarray(i, i + 1000));
  ctx.type = 'application/octet-stream';
  ctx.body = Readable.from(parts); // Koa pipes a stream body into the response
});

router.get('/etag/:id', (ctx) => {
  const body = `resource ${ctx.params.id}`;
  ctx.status = 200; // Koa starts at 404, and ctx.fresh only holds for 2xx
  ctx.type = 'text/plain';
  ctx.etag = createHash('sha1').update(body).digest('base64');
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.body = body;
});

router.get('/boom', () => {
  throw new Error('boom');
});

router.post('/upload', async (ctx) => {
  const body = await readAll(ctx.req);
  ctx.body = { bytes: body.length, sha1: sha1(body) };
});

router.all('/echo', (ctx) => {
  const { req } = ctx;
  ctx.body = { method: req.method, url: req.url, httpVersion: req.httpVersion,
    headers: req.headers, rawHeaders: req.rawHeaders };
});

// Straight node:http calls on ctx.res, with Koa's own response handling turned off.
router.get('/raw/write-head', (ctx) => {
  ctx.respond = false;
  ctx.res.writeHead(200, ['Content-Type', 'text/plain', 'X-Raw-One', '1', 'X-Raw-Two', '2']);
  ctx.res.end('raw head');
});

router.get('/raw/flush-headers', (ctx) => {
  ctx.status = 200; // Koa starts every response at 404; flushHeaders sends what is set
  ctx.respond = false;
  ctx.res.setHeader('Content-Type', 'text/plain');
  ctx.res.setHeader('X-Flushed', 'yes');
  ctx.res.flushHeaders();
  setTimeout(() => ctx.res.end('flushed'), 50);
});

router.get('/raw/trailers', (ctx) => {
  ctx.respond = false;
  const { res } = ctx;
  res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
  res.write('part one, ');
  res.addTrailers({ 'X-Checksum': sha1('part one, part two') });
  res.end('part two');
});

app.use(router.routes());
app.use(router.allowedMethods());
app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
