// An Express 5 app using what real apps use; the routes are the contract in apps/README.md.
// It listens on process.env.PORT (host process.env.HOST, default 127.0.0.1); on workerd
// the same listen() registers the port that httpServerHandler serves.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import express from 'express';

const app = express();
app.set('env', 'production'); // error pages without stack traces (paths differ per runtime)

const pattern = (size) => Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
const sha1 = (data) => createHash('sha1').update(data).digest('hex');

app.get('/users/:id', (req, res) => {
  res.set('X-Route', 'users').json({ id: req.params.id, query: req.query });
});

app.post('/json', express.json(), (req, res) => {
  res.status(201).json({ received: req.body ?? null, type: typeof req.body });
});

app.get('/text/:name', (req, res) => {
  res.type('text/plain').send(`hello ${req.params.name}`);
});

app.get('/buffer/:size', (req, res) => {
  res.type('application/octet-stream').send(pattern(Number(req.params.size)));
});

app.get('/status/:code', (req, res) => {
  const value = req.get('x-value');
  if (value !== undefined) res.set('X-Custom', value);
  res.status(Number(req.params.code)).type('text/plain').send(`status ${req.params.code}`);
});

app.get('/cookies', (req, res) => {
  res.cookie('a', String(req.query.a ?? ''), { path: '/', httpOnly: true });
  res.cookie('b', String(req.query.b ?? ''), { path: '/' });
  res.type('text/plain').send('cookies set');
});

app.get('/redirect', (req, res) => {
  res.redirect(302, String(req.query.to ?? '/'));
});

app.get('/stream/timed', (req, res) => {
  const n = Math.min(Number(req.query.n ?? 4), 8);
  res.type('text/plain');
  let i = 0;
  const next = () => {
    res.write(`chunk ${i}\n`);
    i += 1;
    if (i < n) setTimeout(next, 50);
    else res.end();
  };
  next();
});

app.get('/stream/piped', (req, res) => {
  const body = pattern(Number(req.query.size ?? 4000));
  const parts = [];
  for (let i = 0; i < body.length; i += 1000) parts.push(body.subarray(i, i + 1000));
  res.type('application/octet-stream');
  Readable.from(parts).pipe(res);
});

app.get('/etag/:id', (req, res) => {
  res.type('text/plain').send(`resource ${req.params.id}`); // Express adds the ETag, answers 304
});

app.get('/boom', () => {
  throw new Error('boom');
});

app.post('/upload', express.raw({ type: () => true, limit: '2mb' }), (req, res) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  res.json({ bytes: body.length, sha1: sha1(body) });
});

app.all('/echo', (req, res) => {
  res.json({ method: req.method, url: req.url, httpVersion: req.httpVersion,
    headers: req.headers, rawHeaders: req.rawHeaders });
});

// Straight node:http calls on the ServerResponse Express hands to the route.
app.get('/raw/write-head', (req, res) => {
  res.writeHead(200, ['Content-Type', 'text/plain', 'X-Raw-One', '1', 'X-Raw-Two', '2']);
  res.end('raw head');
});

app.get('/raw/flush-headers', (req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('X-Flushed', 'yes');
  res.flushHeaders();
  setTimeout(() => res.end('flushed'), 50);
});

app.get('/raw/trailers', (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
  res.write('part one, ');
  res.addTrailers({ 'X-Checksum': sha1('part one, part two') });
  res.end('part two');
});

app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
