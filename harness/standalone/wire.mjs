// The small wire of a standalone repro script (python -m harness repro --script): the
// scripted origin of a client scenario or the raw client of a server scenario, as
// harness/wire does them (SCENARIO.md), for one scenario. The bytes to write were composed
// by the harness (harness/wire) into PLAN; this side sends them and records what came back.
// The generated script defines before this: http, net, Buffer, useVocabulary, runClient,
// startServers, finishServers, VOCABULARY, SCENARIO, PLAN.

const started = performance.now();
const now = () => Math.round((performance.now() - started) * 1000) / 1000;
const b64 = (s) => Buffer.from(s, 'base64');
const tag = (buf) => ({ $bytes: Buffer.from(buf).toString('base64') });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const latin1 = (buf) => Buffer.from(buf).toString('latin1');
const CRLF2 = Buffer.from('\r\n\r\n');

/** A connection's bytes as they arrive, read by awaiting what a parser needs. */
class Reader {
  constructor(socket) {
    this.buf = Buffer.alloc(0);
    this.eof = false;
    this.waiters = [];
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    socket.on('end', () => { this.eof = true; this.wake(); });
    socket.on('close', () => { this.eof = true; this.wake(); });
    socket.on('error', () => { this.eof = true; this.wake(); });
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  async until(pred) { // resolves with pred's answer once truthy, or null at eof
    for (;;) {
      const got = pred(this.buf);
      if (got !== null && got !== undefined && got !== false) return got;
      if (this.eof) return null;
      await new Promise((r) => this.waiters.push(r));
    }
  }
  take(n) { const out = this.buf.subarray(0, n); this.buf = this.buf.subarray(n); return out; }
  async head() {
    const end = await this.until((b) => { const i = b.indexOf(CRLF2); return i >= 0 ? i + 4 : null; });
    return end === null ? null : this.take(end);
  }
  async line() {
    const end = await this.until((b) => { const i = b.indexOf('\r\n'); return i >= 0 ? i + 2 : null; });
    return end === null ? null : latin1(this.take(end)).slice(0, -2);
  }
  async bytes(n) {
    const ok = await this.until((b) => b.length >= n);
    return ok === null ? null : this.take(n);
  }
}

function parseHead(raw) {
  const lines = latin1(raw).split('\r\n').slice(0, -2);
  const fields = lines.slice(1).map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()]; });
  return { start: lines[0].split(' '), fields };
}
const field = (fields, name) => fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
const tokens = (fields, name) => field(fields, name).join(',').split(',').map((t) => t.trim().toLowerCase());

/** A message body by its framing: {framing, body, chunks, trailers, complete}. */
async function readBody(reader, fields, { none = false, closeDelimited = false } = {}) {
  const out = { framing: 'none', body: Buffer.alloc(0), chunks: [], trailers: [], complete: true };
  const add = (d) => { out.body = Buffer.concat([out.body, d]); out.chunks.push({ t: now(), len: d.length }); };
  if (none) return out;
  if (tokens(fields, 'transfer-encoding').includes('chunked')) {
    out.framing = 'chunked';
    for (;;) {
      const size = await reader.line();
      if (size === null) return { ...out, complete: false };
      const n = parseInt(size.split(';')[0], 16);
      if (n === 0) break;
      const data = await reader.bytes(n + 2);
      if (data === null) return { ...out, complete: false };
      add(data.subarray(0, n));
    }
    for (let l = await reader.line(); l; l = await reader.line()) {
      const i = l.indexOf(':');
      out.trailers.push([l.slice(0, i), l.slice(i + 1).trim()]);
    }
    return out;
  }
  const length = field(fields, 'content-length')[0];
  if (length !== undefined) {
    out.framing = 'content-length';
    const data = await reader.bytes(Number(length));
    if (data === null) { add(reader.take(reader.buf.length)); return { ...out, complete: false }; }
    if (data.length) add(data);
    return out;
  }
  if (closeDelimited) {
    out.framing = 'close';
    await reader.until(() => false);
    if (reader.buf.length) add(reader.take(reader.buf.length));
  }
  return out;
}

// -- the scripted origin (client scenarios) ---------------------------------------------
function startOrigin(responses) {
  const requests = [];
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer(async (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const conn = connections++;
    const reader = new Reader(socket);
    const send = (data) => new Promise((r) => (socket.destroyed ? r() : socket.write(data, () => r())));
    for (;;) {
      const raw = await reader.head();
      if (raw === null) return;
      const { start, fields } = parseHead(raw);
      const rec = { conn, peer: { address: socket.remoteAddress, port: socket.remotePort }, t: now(), method: start[0], target: start[1], version: (start[2] || '').replace('HTTP/', ''),
        headers: fields, head_raw: tag(raw) };
      requests.push(rec);
      const plan = responses[Math.min(requests.length - 1, responses.length - 1)];
      const bodyRead = readBody(reader, fields).then((b) => Object.assign(rec, {
        framing: b.framing, body: tag(b.body), body_chunks: b.chunks, trailers: b.trailers, complete: b.complete,
      }));
      if (plan.action === 'close') { socket.destroy(); return; }
      if (plan.action === 'respond') for (const head of plan.interim) await send(b64(head));
      if (plan.read_body) await bodyRead;
      if (plan.action === 'raw') { await send(b64(plan.raw)); socket.end(); return; }
      const final = rec.method === 'HEAD' ? plan.head : plan.other;
      for (const [delay, data] of final.parts) {
        if (delay) await sleep(delay);
        await send(b64(data));
      }
      const theirs = tokens(fields, 'connection');
      const keep = !final.closes && plan.keeps && !theirs.includes('close') && !(rec.version === '1.0' && !theirs.includes('keep-alive'));
      if (!keep) { await bodyRead; socket.end(); return; }
      await bodyRead;
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    recording: () => ({ connections, requests }),
    close: () => new Promise((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }),
  })));
}

/** $origin_url / $origin_host / $origin_port, as harness/scenario.py bind_origin resolves them. */
function bindOrigin(node, port) {
  if (Array.isArray(node)) return node.map((v) => bindOrigin(v, port));
  if (node === null || typeof node !== 'object') return node;
  const keys = Object.keys(node);
  if (keys.length === 1) {
    const v = node[keys[0]];
    if (keys[0] === '$origin_host') return v === 'with_port' ? `127.0.0.1:${port}` : '127.0.0.1';
    if (keys[0] === '$origin_port') return v === 'string' ? String(port) : port;
    if (keys[0] === '$origin_url') {
      const s = v || {};
      return `${s.scheme || 'http'}://${s.userinfo ? `${s.userinfo}@` : ''}${s.host || '127.0.0.1'}:${port}${s.path || '/'}`;
    }
  }
  return Object.fromEntries(keys.map((k) => [k, bindOrigin(node[k], port)]));
}

// -- the raw client (server scenarios) --------------------------------------------------
async function exchange(plans, addresses, timeoutMs) {
  const pool = new Map();
  const opened = [];
  const responses = [];
  for (const [index, plan] of plans.entries()) {
    const rec = { request: index, conn: null, interim: [], version: null, status: null, reason: null, headers: [],
      framing: null, body: tag([]), body_chunks: [], trailers: [], closed: false, error: null, head_raw: tag([]),
      t_head: null, tunnel: null };
    responses.push(rec);
    const address = addresses[plan.server];
    if (!address) { rec.error = `no address for server ${plan.server} (got ${addresses.length})`; continue; }
    const key = plan.conn === null ? `own${index}` : `conn${plan.conn}`;
    let c = pool.get(key);
    if (!c || c.reader.eof || !c.usable) {
      const socket = net.connect(address[1], address[0]);
      const ok = await new Promise((r) => { socket.once('connect', () => r(true)); socket.once('error', () => r(false)); });
      if (!ok) { rec.error = `connect to ${address[0]}:${address[1]} failed`; continue; }
      c = { index: opened.length, socket, reader: new Reader(socket), usable: true };
      opened.push(c);
      pool.set(key, c);
    }
    rec.conn = c.index;
    const sending = (async () => {
      const parts = plan.close_after_head ? [] : plan.parts.slice();
      let head = b64(plan.head);
      if (parts.length && parts[0][0] === 0) head = Buffer.concat([head, b64(parts.shift()[1])]);
      c.socket.write(head);
      for (const [delay, data] of parts) {
        if (delay) await sleep(delay);
        if (!c.socket.destroyed) c.socket.write(b64(data));
      }
      if (plan.half_close) c.socket.end();
    })();
    if (plan.close_after_head) {
      await sending;
      c.socket.destroy();
      rec.closed = true;
      rec.error = 'no response read: the request closes its connection after the head';
      continue;
    }
    const timer = sleep(timeoutMs).then(() => 'timeout');
    const outcome = await Promise.race([readResponse(c, plan.method, rec), timer]);
    if (outcome === 'timeout') {
      c.usable = false;
      rec.error = `timeout after ${timeoutMs / 1000} s waiting for ${rec.status === null ? 'the response head' : 'the end of the body'}`;
    }
    await sending;
  }
  opened.forEach((c) => c.socket.destroy());
  return { responses };
}

async function readResponse(c, method, rec) {
  for (;;) {
    const raw = await c.reader.head();
    if (raw === null) {
      rec.closed = true;
      rec.error = 'the connection closed before a response head';
      c.usable = false;
      return;
    }
    const { start, fields } = parseHead(raw);
    const [version, status, ...reason] = start;
    const code = Number(status);
    if (code >= 100 && code < 200 && code !== 101) {
      rec.interim.push({ status: code, reason: reason.join(' '), headers: fields });
      continue;
    }
    Object.assign(rec, { version: version.replace('HTTP/', ''), status: code, reason: reason.join(' '),
      headers: fields, head_raw: tag(raw), t_head: now() });
    if (code === 101 || (method === 'CONNECT' && code >= 200 && code < 300)) {
      await c.reader.until(() => false);
      rec.tunnel = tag(c.reader.take(c.reader.buf.length));
      rec.closed = true;
      c.usable = false;
      return;
    }
    const none = method === 'HEAD' || code === 204 || code === 304;
    const b = await readBody(c.reader, fields, { none, closeDelimited: true });
    Object.assign(rec, { framing: b.framing, body: tag(b.body), body_chunks: b.chunks, trailers: b.trailers });
    if (b.framing === 'close' || tokens(fields, 'connection').includes('close')) {
      rec.closed = c.reader.eof;
      c.usable = false;
    }
    return;
  }
}

// -- the scenario -------------------------------------------------------------------------
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { const a = server.address(); resolve([a.address, a.port]); });
  });
}

async function main() {
  useVocabulary(VOCABULARY);
  let obs;
  if (SCENARIO.kind === 'client') {
    const origin = await startOrigin(PLAN.responses);
    try {
      obs = await runClient(http, bindOrigin(SCENARIO, origin.port));
    } finally {
      await origin.close();
    }
    obs.wire = origin.recording();
    obs.ctx = { origin_host: '127.0.0.1', origin_port: origin.port };
  } else {
    const session = await startServers(http, SCENARIO, listen);
    const addresses = session.addresses || [];
    const wire = addresses.length && addresses.every(Boolean)
      ? await exchange(PLAN.requests, addresses, SCENARIO.timeout_ms)
      : { responses: [] };
    obs = { ...(await finishServers(session)), wire };
  }
  process.stdout.write(`${JSON.stringify(obs, null, 2)}\n`);
  process.exit(0);
}

main();
