// The one scenario executor shared by every JavaScript target (node, bun, deno via
// stdio_driver.mjs; workerd via its worker wrapper). It implements harness/SCENARIO.md:
// a scenario (plain JSON) in, observations (plain JSON) out.
//
// Rules kept throughout this file:
// - `http` is handed in by the wrapper, so the wrapper decides how node:http is imported.
// - Nothing here touches process.stdin/stdout or other host I/O: workerd imports it too.
// - No exception escapes: JavaScript errors become data (error records), and executor
//   bugs become {"status": "error", "detail": ...}.
// - timeout_ms is enforced here: on expiry the observations so far are returned with
//   status "timeout", recording stops, and what is still open is destroyed.

import { Buffer } from 'node:buffer';
import { Readable, finished as streamFinished } from 'node:stream';

const DEFAULT_TIMEOUT_MS = 5000;
// After res 'end', how long the client scenario waits for res 'close' (SCENARIO.md).
const END_GRACE_MS = 100;
// How long finishServers waits for server.close() to complete.
const CLOSE_WAIT_MS = 1000;
// Settle time after the servers closed, so that trailing 'close' events are recorded.
const SETTLE_MS = 1;
const MAX_ENCODE_DEPTH = 8;
// Optional keys of an error record, present only when the error has them (SCENARIO.md).
const ERROR_EXTRAS = ['syscall', 'address', 'port', 'bytesParsed'];

const CLIENT_OPS = new Set([
  'setHeader', 'getHeader', 'hasHeader', 'removeHeader', 'getHeaderNames',
  'getRawHeaderNames', 'getHeaders', 'write', 'end', 'flushHeaders', 'destroy', 'abort',
  'setTimeout', 'addTrailers', 'cork', 'uncork', 'pipe',
]);
const SERVER_RES_OPS = new Set([
  'setHeader', 'getHeader', 'getHeaders', 'getHeaderNames', 'hasHeader', 'removeHeader',
  'appendHeader', 'setHeaders', 'writeHead', 'write', 'end', 'flushHeaders', 'addTrailers',
  'writeContinue', 'writeProcessing', 'writeEarlyHints', 'destroy',
  'cork', 'uncork', 'setTimeout', 'pipe',
]);
// server.<method> ops (besides server.get/set) and socket.<method> ops of 'clientError'.
const SERVER_OPS = new Set(['close', 'closeIdleConnections', 'closeAllConnections', 'setTimeout', 'asyncDispose']);
// req.<method> ops of a handler (besides req.get and req.read_body).
const SERVER_REQ_OPS = new Set(['setTimeout', 'destroy']);
// Marks the error of a handler's `throw` op, which leaves the 'request' listener.
const HANDLER_THROW = Symbol('handlerThrow');
// Handler ops of SCENARIO.md "Lifecycle ops", and the socket.call methods (on req.socket).
const LIFECYCLE_OPS = new Set(['res.on', 'socket.get', 'socket.call', 'socket.on', 'same', 'stream.finished']);
const HANDLER_SOCKET_METHODS = new Set(['setEncoding']);
const SOCKET_OPS = new Set(['write', 'end', 'destroy']);
// Methods whose completion callback is always attached and recorded as "<op>_cb".
const CLIENT_CB_OPS = new Set(['write', 'end']);
const SERVER_CB_OPS = new Set(['write', 'end', 'writeEarlyHints']);

const CLIENT_REQ_EVENTS = ['socket', 'finish', 'continue', 'timeout', 'abort', 'drain', 'close'];
const CLIENT_RES_EVENTS = ['end', 'aborted', 'close', 'timeout'];
// res.call ops of a client op list (SCENARIO.md "Response reads and calls").
const CLIENT_RES_METHODS = new Set(['setTimeout', 'destroy', 'pause', 'resume']);
// What `same_as` of a req.get / res.get op compares with (SCENARIO.md "Request lifecycle").
const SAME_AS = {
  req: (st) => st.req, res: (st) => st.res,
  'req.socket': (st) => st.req && st.req.socket, 'res.socket': (st) => st.res && st.res.socket,
};
const SERVER_EVENTS = ['listening', 'connection', 'close', 'dropRequest'];
const SERVER_REQ_EVENTS = ['end', 'aborted', 'close'];
const SERVER_RES_EVENTS = ['finish', 'close', 'drain'];

// Recorders of the scenarios currently running, so that a wrapper can attribute an
// uncaught exception to them (see recordUncaught).
const active = new Set();

// ---------------------------------------------------------------------------------------
// Small helpers

const clock = () => performance.now();
const round3 = (x) => Math.round(x * 1000) / 1000;

function describe(err) {
  try {
    if (err && typeof err === 'object' && 'stack' in err && err.stack) return String(err.stack);
    return String(err);
  } catch {
    return '<unprintable error>';
  }
}

/** An error (or any thrown value) as {name, code, message}. */
export function errorRecord(err) {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) {
    let message;
    try { message = String(err); } catch { message = '<unprintable>'; }
    return { name: typeof err, code: null, message };
  }
  let name = null;
  try { name = err.name; } catch { /* a throwing getter is still an error */ }
  if (typeof name !== 'string' || name === '') {
    try { name = err.constructor && err.constructor.name ? err.constructor.name : 'Error'; } catch { name = 'Error'; }
  }
  let code = null;
  try { code = err.code ?? null; } catch { code = null; }
  if (code !== null && typeof code !== 'string' && typeof code !== 'number') {
    try { code = String(code); } catch { code = null; }
  }
  let message = '';
  try { message = err.message === undefined ? '' : String(err.message); } catch { message = ''; }
  const rec = { name, code, message };
  for (const key of ERROR_EXTRAS) {
    let v;
    try { v = err[key]; } catch { v = undefined; }
    if (v === undefined || v === null) continue;
    if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) rec[key] = v;
    else {
      try { rec[key] = String(v); } catch { /* an unprintable extra is left out */ }
    }
  }
  return rec;
}

function toBuffer(chunk) {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return Buffer.from(chunk);
  return Buffer.from(String(chunk), 'utf8');
}

function chunkType(chunk) {
  if (typeof chunk === 'string') return 'string';
  if (Buffer.isBuffer(chunk)) return 'Buffer';
  if (chunk instanceof Uint8Array) return 'Uint8Array';
  if (chunk === null || chunk === undefined) return String(chunk);
  try { return chunk.constructor ? chunk.constructor.name : typeof chunk; } catch { return typeof chunk; }
}

/**
 * A recorder: the scenario clock, the event list, the deadline, and "wake me when this
 * becomes true" conditions that are re-checked after every recorded event.
 */
class Recorder {
  constructor(timeoutMs) {
    this.t0 = clock();
    this.frozen = false;
    this.timedOut = false;
    this.timers = new Set();
    this.conds = [];
    this.uncaught = []; // process-level errors when there is no event list (server)
    this.sink = null; // the client scenario's event list, which takes them in order
    this.timeoutMs = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : DEFAULT_TIMEOUT_MS;
    this.deadline = new Promise((resolve) => {
      this.deadlineTimer = setTimeout(() => {
        this.timedOut = true;
        resolve('timeout');
      }, this.timeoutMs);
    });
    active.add(this);
  }

  t() { return round3(clock() - this.t0); }

  /** Push an event onto `list` unless recording stopped; wakes waiters. */
  event(list, rec) {
    if (!this.frozen) list.push(rec);
    this.poke();
  }

  processEvent(name, err) {
    const rec = { src: 'process', name, t: this.t(), error: errorRecord(err) };
    if (this.sink) this.event(this.sink, rec);
    else if (!this.frozen) this.uncaught.push(rec);
  }

  setTimer(fn, ms) {
    const h = setTimeout(() => {
      this.timers.delete(h);
      try { fn(); } catch (e) { this.processEvent('timer_error', e); }
    }, ms);
    this.timers.add(h);
    return h;
  }

  sleep(ms) {
    return new Promise((resolve) => this.setTimer(resolve, Math.max(0, Number(ms) || 0)));
  }

  /** Resolves true once pred() holds (checked now and after every event). */
  until(pred) {
    let ok = false;
    try { ok = pred(); } catch { ok = false; }
    if (ok) return Promise.resolve(true);
    return new Promise((resolve) => this.conds.push({ pred, resolve }));
  }

  /** until(pred), or 'timeout' when the scenario deadline passes first. */
  untilOrDeadline(pred) {
    return Promise.race([this.until(pred).then(() => 'done'), this.deadline]);
  }

  poke() {
    for (let i = this.conds.length - 1; i >= 0; i--) {
      let ok = false;
      try { ok = this.conds[i].pred(); } catch { ok = false; }
      if (ok) {
        const { resolve } = this.conds[i];
        this.conds.splice(i, 1);
        resolve(true);
      }
    }
  }

  close() {
    this.frozen = true;
    clearTimeout(this.deadlineTimer);
    for (const h of this.timers) clearTimeout(h);
    this.timers.clear();
    active.delete(this);
  }
}

/**
 * Called by a wrapper's process-level handler (uncaughtException, unhandledRejection).
 * The error is attached to every running scenario as a "process" event.
 */
export function recordUncaught(kind, err) {
  for (const rec of active) rec.processEvent(kind, err);
  return active.size;
}

// ---------------------------------------------------------------------------------------
// Tagged values (SCENARIO.md "Tagged values")

/**
 * What decoding collects for one scenario: agents to destroy at its end (and the named
 * ones by id), abort timers to start; `agentObs` is where named agents' events go
 * (client observations `agents`), null when they are not recorded.
 */
function newContext(http, rec, agentObs) {
  return { http, rec, agentObs, agents: [], agentsById: new Map(), signals: [], restores: [] };
}

/**
 * The module object whose properties can be assigned: an ESM namespace (`import * as`)
 * is read-only, its `default` is node:http's exports object with the globalAgent setter.
 */
function moduleObject(http) {
  return http.default ?? http;
}

/** The agent an op names: "global" is http.globalAgent, else a named agent (or undefined). */
function lookupAgent(ctx, id) {
  if (id === 'global') return moduleObject(ctx.http).globalAgent;
  return ctx.agentsById.get(id);
}

/** agent.pool: `{name: count}` for a pool object (sockets, freeSockets, requests). */
function poolCounts(pool) {
  if (pool === null || typeof pool !== 'object') return encode(pool, undefined);
  const out = {};
  for (const name of Object.keys(pool)) {
    const list = pool[name];
    out[name] = Array.isArray(list) ? list.length : encode(list, undefined);
  }
  return out;
}

/** Record a named agent's 'free' events in agents[id].events. */
function watchAgent(ctx, id, agent) {
  if (!ctx.agentObs) return;
  const entry = { events: [] };
  ctx.agentObs[id] = entry;
  try {
    agent.on('free', () => ctx.rec.event(entry.events, { name: 'free', t: ctx.rec.t() }));
  } catch (e) {
    ctx.rec.event(entry.events, { name: 'on_threw', t: ctx.rec.t(), error: errorRecord(e) });
  }
}

/**
 * Decode tags into runtime values. ctx collects what the scenario creates and must
 * release afterwards (agents, abort timers).
 */
function decode(value, ctx) {
  if (Array.isArray(value)) return value.map((v) => decode(v, ctx));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const key = keys[0];
    const inner = value[key];
    switch (key) {
      case '$bytes':
        return Buffer.from(String(inner), 'base64');
      case '$u8':
        return new Uint8Array(Buffer.from(String(inner), 'base64'));
      case '$undefined':
        return undefined;
      case '$agent': {
        if (inner === 'global') return moduleObject(ctx.http).globalAgent;
        if (inner && typeof inner === 'object' && !Array.isArray(inner) && typeof inner.id === 'string') {
          // A named agent: created on first use, the same object every later time.
          const known = lookupAgent(ctx, inner.id);
          if (known !== undefined) return known;
          const named = new ctx.http.Agent(decode(inner.options ?? {}, ctx));
          ctx.agents.push(named);
          ctx.agentsById.set(inner.id, named);
          watchAgent(ctx, inner.id, named);
          return named;
        }
        const agent = new ctx.http.Agent(decode(inner ?? {}, ctx));
        ctx.agents.push(agent);
        return agent;
      }
      case '$signal': {
        const ms = Number(inner && inner.abort_after_ms) || 0;
        if (ms <= 0) return AbortSignal.abort();
        const controller = new AbortController();
        ctx.signals.push({ controller, ms });
        return controller.signal;
      }
      case '$headers':
        return new Headers(decode(inner, ctx));
      case '$map':
        return new Map(decode(inner, ctx));
      case '$number':
        return Number(inner);
      case '$fn': {
        // A callback option as data: returns a fixed value, or throws new Error(throws).
        const spec = inner ?? {};
        const returned = decode(spec.returns, ctx);
        return () => {
          if (typeof spec.throws === 'string') throw new Error(spec.throws);
          return returned;
        };
      }
      default:
        break; // not a tag we know: an ordinary object whose only key starts with '$'
    }
  }
  const out = {};
  for (const k of keys) out[k] = decode(value[k], ctx);
  return out;
}

/**
 * Encode a returned value as JSON: the receiver as "$this", Buffer as $bytes, other
 * byte views as $u8, undefined as $undefined, non-finite numbers as $number, Map as
 * $map, Headers as $headers, errors as error records, other objects by their own
 * enumerable string keys (functions and symbols dropped).
 */
export function encode(value, receiver, depth = 0, seen = new Set()) {
  if (receiver !== undefined && receiver !== null && value === receiver) return '$this';
  if (value === undefined) return { $undefined: true };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return null;
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (ArrayBuffer.isView(value)) {
    return { $u8: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (value instanceof ArrayBuffer) return { $u8: Buffer.from(value).toString('base64') };
  if (value instanceof Error) return errorRecord(value);
  if (depth >= MAX_ENCODE_DEPTH) return '$depth';
  if (seen.has(value)) return '$circular';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => encode(v, receiver, depth + 1, seen));
    if (value instanceof Map) {
      return { $map: [...value.entries()].map(([k, v]) => [encode(k, receiver, depth + 1, seen), encode(v, receiver, depth + 1, seen)]) };
    }
    if (typeof Headers !== 'undefined' && value instanceof Headers) return { $headers: [...value.entries()] };
    const out = {};
    let keys = [];
    try { keys = Object.keys(value); } catch { keys = []; }
    for (const k of keys) {
      let v;
      try { v = value[k]; } catch (e) { v = errorRecord(e); }
      if (typeof v === 'function' || typeof v === 'symbol') continue;
      out[k] = encode(v, receiver, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Plain JSON for observed properties: like encode, but undefined becomes null. */
function plain(value) {
  if (value === undefined) return null;
  try { return encode(value, undefined); } catch (e) { return { $error: errorRecord(e) }; }
}

function pushCall(rec, calls, call) {
  if (!rec.frozen) calls.push(call);
}

function readProp(fn) {
  try { return plain(fn()); } catch { return null; }
}

// ---------------------------------------------------------------------------------------
// Client scenarios

function emptyRequestObservations() {
  return {
    threw: null, calls: [], events: [], response: null, body: { $bytes: '' }, chunks: [], props: {},
  };
}

function emptyClientObservations() {
  return { status: 'ok', detail: '', ...emptyRequestObservations(), more: [], agents: {} };
}

const CLIENT_PROPS = {
  'req.method': (s) => s.req.method,
  'req.path': (s) => s.req.path,
  'req.host': (s) => s.req.host,
  'req.protocol': (s) => s.req.protocol,
  'req.writableEnded': (s) => s.req.writableEnded,
  'req.headersSent': (s) => s.req.headersSent,
  'req.reusedSocket': (s) => s.req.reusedSocket,
  'req.socket.encrypted': (s) => (s.req.socket ? s.req.socket.encrypted : null),
  'res.req_is_req': (s) => (s.res ? s.res.req === s.req : null),
  'req.aborted': (s) => s.req.aborted,
  'req.shouldKeepAlive': (s) => s.req.shouldKeepAlive,
  'req.destroyed': (s) => s.req.destroyed,
  'res.destroyed': (s) => (s.res ? s.res.destroyed : null),
  'res.readable': (s) => (s.res ? s.res.readable : null),
};

function headSnapshot(res) {
  return {
    statusCode: readProp(() => res.statusCode),
    statusMessage: readProp(() => res.statusMessage),
    httpVersion: readProp(() => res.httpVersion),
    httpVersionMajor: readProp(() => res.httpVersionMajor),
    httpVersionMinor: readProp(() => res.httpVersionMinor),
    headers: readProp(() => res.headers),
    rawHeaders: readProp(() => res.rawHeaders),
  };
}

/** Run a client scenario; returns client observations (without "wire"). */
export async function runClient(http, scenario) {
  const obs = emptyClientObservations();
  let rec = null;
  try {
    rec = new Recorder(scenario && scenario.timeout_ms);
    await clientBody(http, scenario, obs, rec);
  } catch (e) {
    obs.status = 'error';
    obs.detail = `executor error: ${describe(e)}`;
  } finally {
    if (rec) rec.close();
  }
  return obs;
}

async function clientBody(http, scenario, obs, rec) {
  rec.sink = obs.events;
  const c = (scenario && scenario.client) || {};
  const ctx = newContext(http, rec, obs.agents);

  if (scenario && scenario.kind !== undefined && scenario.kind !== 'client') {
    obs.status = 'error';
    obs.detail = `runClient got a scenario of kind ${JSON.stringify(scenario.kind)}`;
    return;
  }
  // The first request is `client` itself; `client.then` lists the further ones, whose
  // observations go to obs.more[i] (SCENARIO.md "Several requests").
  const further = Array.isArray(c.then) ? c.then : [];
  for (let i = 0; i < further.length; i++) obs.more.push(emptyRequestObservations());
  const runs = [c, ...further].map((spec, i) => clientRun(spec || {}, i === 0 ? obs : obs.more[i - 1], i, obs, ctx, rec));

  const drive = async () => {
    if (c.parallel) {
      // A request with start_after_ms is created that long after the others started.
      for (const [i, run] of runs.entries()) {
        const after = Number((i === 0 ? c : further[i - 1])?.start_after_ms) || 0;
        if (after > 0) rec.setTimer(() => { if (!rec.timedOut) run.start(); }, after);
        else run.start();
      }
      await Promise.all(runs.map((run) => run.done));
      return;
    }
    for (const run of runs) {
      if (rec.timedOut) break;
      run.start();
      await run.done;
    }
  };
  const outcome = await Promise.race([drive().then(() => 'done'), rec.deadline]);
  if (outcome === 'timeout') {
    obs.status = 'timeout';
    obs.detail = `scenario did not finish within ${rec.timeoutMs} ms` + timeoutDetail(runs);
  }
  for (const run of runs) run.fillProps();
  rec.frozen = true;
  for (const run of runs) run.fillBody();
  for (const run of runs) run.release();
  releaseAgents(ctx);
}

/**
 * One request of a client scenario: `spec` is {call, args, ops, response, on_timeout},
 * `robs` where its observations go (the top-level observations for the first request,
 * obs.more[i] for the others), `top` the top-level observations (status, detail).
 * start() creates the request and runs its ops; `done` resolves once the ops ran and the
 * request finished (or at once when request() threw).
 */
function clientRun(spec, robs, index, top, ctx, rec) {
  const c = spec;
  const st = {
    req: null, res: null, reqClosed: false, resClosed: false, resEnded: false,
    endGraceOver: false, upgradeDone: false, tunneling: false, parts: [], bytes: 0, destroyedRes: false,
    started: false, fired: new Set(), abortedReq: false,
  };
  let settle;
  const run = { st, done: new Promise((resolve) => { settle = resolve; }) };
  const obs = robs;
  const ev = (src, name, extra) => {
    rec.event(obs.events, { src, name, t: rec.t(), ...(extra || {}) });
  };
  const mark = (key) => {
    st.fired.add(key);
    rec.poke();
  };
  // A tunnel (client.on_upgrade) outlives req 'close': it ends when its socket closed.
  const finished = () => st.upgradeDone
    || (!st.tunneling && st.reqClosed && (!st.res || st.resClosed || st.endGraceOver));

  run.fillProps = () => {
    for (const [k, fn] of Object.entries(CLIENT_PROPS)) {
      obs.props[k] = st.req ? readProp(() => fn(st)) : null;
    }
  };
  run.fillBody = () => {
    if (st.parts.length) obs.body = { $bytes: Buffer.concat(st.parts).toString('base64') };
  };
  run.release = () => releaseClient(st);
  // What this request still waits for ('' when only its ops are running), null if nothing.
  run.waiting = () => {
    if (!st.started || st.req === null || finished()) return null;
    const waiting = [];
    if (!st.reqClosed) waiting.push("req 'close'");
    if (st.res && !st.resClosed && !st.resEnded) waiting.push("res 'end' or 'close'");
    return waiting.join(', ');
  };

  run.start = () => {
    st.started = true;
    const call = c.call ?? 'request';
    if (call !== 'request' && call !== 'get') {
      top.status = 'error';
      top.detail = `unknown client.call ${JSON.stringify(call)} (expected "request" or "get")`;
      settle();
      return;
    }
    // request()/get(): a synchronous throw is the whole observation of this request.
    let req;
    const signalsBefore = ctx.signals.length;
    try {
      const args = decode(c.args ?? [], ctx);
      req = ctx.http[call](...args);
    } catch (e) {
      obs.threw = errorRecord(e);
      settle();
      return;
    }
    st.req = req;
    for (const { controller, ms } of ctx.signals.slice(signalsBefore)) rec.setTimer(() => controller.abort(), ms);
    attachClientListeners(req, c, st, obs, rec, ev, mark, ctx, top);
    const runOps = async () => {
      for (const op of c.ops ?? []) {
        if (rec.timedOut) break;
        // API ops run back to back in the same tick, as consecutive calls in a Node test
        // would; only the waiting ops yield to the event loop.
        const pending = clientOp(op, req, ctx, obs, top, rec, ev, st);
        if (pending) await pending;
      }
    };
    Promise.all([runOps(), rec.until(finished)]).then(() => settle(), (e) => {
      top.status = 'error';
      top.detail = `executor error in request ${index}: ${describe(e)}`;
      settle();
    });
  };
  return run;
}

function attachClientListeners(req, c, st, obs, rec, ev, mark, ctx, top) {
  // --- req events
  for (const name of CLIENT_REQ_EVENTS) {
    req.on(name, () => {
      ev('req', name);
      if (name === 'close') st.reqClosed = true;
      if (name === 'timeout' && c.on_timeout === 'destroy') {
        try { req.destroy(); } catch (e) { ev('req', 'destroy_threw', { error: errorRecord(e) }); }
      }
      mark(`req:${name}`);
    });
  }
  req.on('error', (err) => {
    ev('req', 'error', { error: errorRecord(err) });
    mark('req:error');
  });
  if (c.throw_in === 'req:error') req.on('error', thrower(c));
  req.on('information', (info) => {
    ev('req', 'information', {
      info: {
        statusCode: readProp(() => info.statusCode),
        statusMessage: readProp(() => info.statusMessage),
        headers: readProp(() => info.headers),
        rawHeaders: readProp(() => info.rawHeaders),
      },
    });
    mark('req:information');
  });
  for (const name of ['upgrade', 'connect']) {
    // upgrade_listener: false leaves 'upgrade' unlistened (Node then destroys the socket).
    if (name === 'upgrade' && c.upgrade_listener === false) continue;
    req.on(name, (res, socket, head) => {
      const record = { src: 'req', name, t: rec.t(), info: headSnapshot(res), head: plain(head ? toBuffer(head) : Buffer.alloc(0)) };
      rec.event(obs.events, record);
      mark(`req:${name}`);
      if (Array.isArray(c.on_upgrade) && socket) {
        // The tunnel ops own the socket; the request is done once it closed.
        st.tunneling = true;
        const shared = (op, calls) => sharedOp(op, ctx, calls, top, rec);
        runTunnel(c.on_upgrade, socket, record, obs.events, ctx, top, shared).then(() => {
          st.upgradeDone = true;
          rec.poke();
        });
        return;
      }
      // The socket is handed to us; end it so the scenario can finish.
      try {
        if (socket && !socket.destroyed) {
          socket.once('close', () => { st.upgradeDone = true; rec.poke(); });
          socket.destroy();
        } else {
          st.upgradeDone = true;
        }
      } catch {
        st.upgradeDone = true;
      }
    });
  }
  // listen_response false: no 'response' listener at all, so Node dumps the response.
  if (c.listen_response !== false) req.on('response', (res) => onClientResponse(res, c, st, obs, rec, ev, mark));
  if (c.throw_in === 'response') req.on('response', thrower(c));
}

/** A listener that throws new Error(c.throw_message), attached after the executor's own. */
function thrower(c) {
  return () => { throw new Error(String(c.throw_message ?? 'thrown by a listener')); };
}

function onClientResponse(res, c, st, obs, rec, ev, mark) {
  st.res = res;
  ev('req', 'response');
  obs.response = {
    ...headSnapshot(res),
    headersDistinct: readProp(() => res.headersDistinct),
    trailers: readProp(() => res.trailers),
    rawTrailers: readProp(() => res.rawTrailers),
    complete: readProp(() => res.complete),
  };
  const readTail = () => {
    if (rec.frozen || !obs.response) return;
    obs.response.trailers = readProp(() => res.trailers);
    obs.response.rawTrailers = readProp(() => res.rawTrailers);
    obs.response.complete = readProp(() => res.complete);
  };
  for (const name of CLIENT_RES_EVENTS) {
    res.on(name, () => {
      ev('res', name);
      if (name === 'end' || name === 'close') readTail();
      if ((name === 'end' || name === 'close') && !rec.frozen) obs.props[`res.destroyed_at_${name}`] = readProp(() => res.destroyed);
      if (name === 'end') {
        st.resEnded = true;
        rec.setTimer(() => { st.endGraceOver = true; rec.poke(); }, END_GRACE_MS);
      }
      if (name === 'close') st.resClosed = true;
      mark(`res:${name}`);
    });
  }
  res.on('error', (err) => {
    ev('res', 'error', { error: errorRecord(err) });
    mark('res:error');
  });
  if (c.throw_in === 'res:end') res.on('end', thrower(c));
  const how = c.response || {};
  if (how.finished) {
    try {
      streamFinished(res, (err) => ev('res', 'finished_cb', err ? { error: errorRecord(err) } : undefined));
    } catch (e) { ev('res', 'finished_threw', { error: errorRecord(e) }); }
  }
  if (how.destroy_on_readable) {
    res.once('readable', () => {
      try { res.destroy(); } catch (e) { ev('res', 'destroy_threw', { error: errorRecord(e) }); }
    });
  }
  if (how.encoding !== null && how.encoding !== undefined) {
    try { res.setEncoding(how.encoding); } catch (e) {
      ev('res', 'setEncoding_threw', { error: errorRecord(e) });
    }
  }
  const onChunk = (chunk) => {
    if (rec.frozen) return;
    const buf = toBuffer(chunk);
    st.parts.push(buf);
    st.bytes += buf.length;
    ev('res', 'data', { len: buf.length });
    obs.chunks.push({ t: rec.t(), len: buf.length, type: chunkType(chunk) });
    const limit = how.destroy_after_bytes;
    if (typeof limit === 'number' && st.bytes >= limit && !st.destroyedRes) {
      st.destroyedRes = true;
      try { res.destroy(); } catch (e) { ev('res', 'destroy_threw', { error: errorRecord(e) }); }
    }
    const abortAt = how.abort_after_bytes;
    if (typeof abortAt === 'number' && st.bytes >= abortAt && !st.abortedReq) {
      st.abortedReq = true;
      try { st.req.abort(); } catch (e) { ev('req', 'abort_threw', { error: errorRecord(e) }); }
    }
    if (typeof how.pause_each_ms === 'number' && how.pause_each_ms > 0) {
      try {
        res.pause();
        rec.setTimer(() => res.resume(), how.pause_each_ms);
      } catch (e) { ev('res', 'pause_threw', { error: errorRecord(e) }); }
    }
  };
  if (how.iterate) {
    (async () => {
      try {
        for await (const chunk of res) onChunk(chunk);
      } catch {
        // the same error is recorded by the 'error' listener
      }
    })();
  } else {
    res.on('data', onChunk);
  }
  if (typeof how.pause_ms === 'number' && how.pause_ms > 0) {
    try {
      res.pause();
      obs.props['res.isPaused_after_pause'] = readProp(() => res.isPaused());
      rec.setTimer(() => { try { res.resume(); } catch { /* recorded nowhere: resume cannot fail usefully */ } }, how.pause_ms);
    } catch (e) {
      obs.props['res.isPaused_after_pause'] = null;
      ev('res', 'pause_threw', { error: errorRecord(e) });
    }
  }
  mark('req:response');
}

function unknownOp(rec, calls, top, kind, name) {
  const message = `unknown ${kind} op ${JSON.stringify(name)}`;
  top.status = 'error';
  top.detail = message;
  pushCall(rec, calls, { op: name, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_OP', message } });
}

/**
 * The ops every op list shares (SCENARIO.md "Agent and module reads"): agent.get,
 * agent.call, module.get. Returns true when `op` was one of them (and recorded).
 */
function sharedOp(op, ctx, calls, top, rec) {
  const name = op && op.op;
  if (name === 'module.get') {
    try {
      pushCall(rec, calls, { op: name, returned: encode(ctx.http[op.prop], ctx.http), threw: null });
    } catch (e) {
      pushCall(rec, calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return true;
  }
  if (name === 'module.set') {
    // Assigned for this scenario only: the old value goes back when it ends.
    const mod = moduleObject(ctx.http);
    try {
      const old = mod[op.prop];
      mod[op.prop] = decode(op.value, ctx);
      ctx.restores.push(() => { mod[op.prop] = old; });
      pushCall(rec, calls, { op: name, returned: { $undefined: true }, threw: null });
    } catch (e) {
      pushCall(rec, calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return true;
  }
  if (name === 'module.call') {
    try {
      const returned = ctx.http[op.method](...decode(op.args ?? [], ctx));
      pushCall(rec, calls, { op: name, returned: encode(returned, ctx.http), threw: null });
    } catch (e) {
      pushCall(rec, calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return true;
  }
  if (name !== 'agent.get' && name !== 'agent.call' && name !== 'agent.pool') return false;
  const agent = lookupAgent(ctx, op.agent);
  if (agent === undefined) {
    const message = `no agent ${JSON.stringify(op.agent)} in this scenario (give one with {"$agent": {"id": ...}} first)`;
    top.status = 'error';
    top.detail = message;
    pushCall(rec, calls, { op: name, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_AGENT', message } });
    return true;
  }
  try {
    let returned;
    if (name === 'agent.pool') {
      pushCall(rec, calls, { op: name, returned: poolCounts(agent[op.prop]), threw: null });
      return true;
    }
    if (name === 'agent.get') returned = agent[op.prop];
    else returned = agent[op.method](...decode(op.args ?? [], ctx));
    pushCall(rec, calls, { op: name, returned: encode(returned, agent), threw: null });
  } catch (e) {
    pushCall(rec, calls, { op: name, returned: null, threw: errorRecord(e) });
  }
  return true;
}

/** Runs one client op; returns a Promise only for the ops that wait. */
function clientOp(op, req, ctx, obs, top, rec, ev, st) {
  const name = op && op.op;
  const fired = st.fired;
  if (name === 'wait') {
    return Promise.race([rec.sleep(op.ms), rec.deadline]).then(() => {
      pushCall(rec, obs.calls, { op: name, returned: { $undefined: true }, threw: null });
    });
  }
  if (name === 'wait_event') {
    const key = `${op.src || 'req'}:${op.event}`;
    const done = (r) => pushCall(rec, obs.calls, {
      op: name, returned: { $undefined: true },
      threw: r === 'timeout' ? { name: 'HarnessTimeout', code: null, message: `event ${key} did not fire` } : null,
    });
    if (fired.has(key)) return done('done');
    return rec.untilOrDeadline(() => fired.has(key)).then(done);
  }
  if (sharedOp(op, ctx, obs.calls, top, rec)) return;
  if (name === 'req.get' || name === 'res.get' || name === 'res.call') {
    messageOp(op, req, st, ctx, obs, top, rec);
    return;
  }
  if (name === 'req.set') {
    try {
      req[op.prop] = decode(op.value, ctx);
      pushCall(rec, obs.calls, { op: name, returned: { $undefined: true }, threw: null });
    } catch (e) {
      pushCall(rec, obs.calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return;
  }
  if (name === 'readable.pipe') {
    // Readable.from(chunks).pipe(req): each chunk written in turn, then req.end().
    try {
      const source = Readable.from(decode(op.chunks ?? [], ctx));
      pushCall(rec, obs.calls, { op: name, returned: encode(source.pipe(req), req), threw: null });
    } catch (e) {
      pushCall(rec, obs.calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return;
  }
  if (!CLIENT_OPS.has(name)) {
    unknownOp(rec, obs.calls, top, 'client', name);
    return;
  }
  try {
    let args = decode(op.args ?? [], ctx);
    if (name === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
    if (CLIENT_CB_OPS.has(name)) {
      args = [...args, (err) => ev('req', `${name}_cb`, err ? { error: errorRecord(err) } : undefined)];
    }
    const returned = req[name](...args);
    pushCall(rec, obs.calls, { op: name, returned: encode(returned, req), threw: null });
  } catch (e) {
    pushCall(rec, obs.calls, { op: name, returned: null, threw: errorRecord(e) });
  }
}

/**
 * req.get / res.get / res.call (SCENARIO.md "Response reads and calls"): a property of
 * the request or of the response it got so far, or a method of that response.
 */
function messageOp(op, req, st, ctx, obs, top, rec) {
  const res = st.res;
  const name = op.op;
  const target = name === 'req.get' ? req : res;
  if (!target) {
    const message = 'no response yet (wait for it with wait_event first)';
    pushCall(rec, obs.calls, { op: name, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_NO_RESPONSE', message } });
    return;
  }
  if (name === 'res.call' && !CLIENT_RES_METHODS.has(op.method)) {
    unknownOp(rec, obs.calls, top, 'res.call', op.method);
    return;
  }
  try {
    let returned;
    if (name === 'res.call') {
      const args = decode(op.args ?? [], ctx);
      if (op.method === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
      returned = target[op.method](...args);
    } else {
      returned = target[op.prop];
    }
    if (name !== 'res.call' && op.same_as !== undefined) {
      // An object (a socket) is compared, never encoded.
      if (!(op.same_as in SAME_AS)) {
        unknownOp(rec, obs.calls, top, 'same_as', op.same_as);
        return;
      }
      returned = returned !== undefined && returned !== null && returned === SAME_AS[op.same_as](st);
      pushCall(rec, obs.calls, { op: name, returned, threw: null });
      return;
    }
    pushCall(rec, obs.calls, { op: name, returned: encode(returned, target), threw: null });
  } catch (e) {
    pushCall(rec, obs.calls, { op: name, returned: null, threw: errorRecord(e) });
  }
}

function releaseClient(st) {
  try {
    if (st.req && !st.reqClosed && !st.req.destroyed) st.req.destroy();
  } catch { /* best effort */ }
  try {
    if (st.res && !st.resClosed && !st.res.destroyed) st.res.destroy();
  } catch { /* best effort */ }
}

function releaseAgents(ctx) {
  for (const restore of ctx.restores.splice(0).reverse()) {
    try { restore(); } catch { /* best effort */ }
  }
  for (const agent of ctx.agents) {
    try { agent.destroy(); } catch { /* best effort */ }
  }
}

/** What the requests of a timed-out client scenario were still waiting for. */
function timeoutDetail(runs) {
  if (runs.length === 1) {
    const w = runs[0].waiting();
    return w ? ` (waiting for ${w})` : ' (ops still running)';
  }
  const parts = runs
    .map((run, i) => { const w = run.waiting(); return w === null ? null : `request ${i}: ${w || 'ops still running'}`; })
    .filter((p) => p !== null);
  return parts.length ? ` (${parts.join('; ')})` : ' (ops still running)';
}

// ---------------------------------------------------------------------------------------
// Tunnels: the socket an 'upgrade' or 'connect' listener gets (SCENARIO.md "Upgrade and
// CONNECT")

/**
 * Watch the socket and run tunnel ops on it: bytes it delivers go to record.tunnel, its
 * events ({src: 'socket', name: data|end|close|error}) to `events`, op results to
 * record.calls. `otherOp(op, calls)` runs the ops a list shares (agent, module, server
 * ops); true when it did. Resolves once the ops ran and the socket closed (or the
 * scenario deadline passed).
 */
function runTunnel(ops, socket, record, events, ctx, top, otherOp) {
  const { rec } = ctx;
  const parts = [];
  const state = { ended: false, closed: false, bytes: 0 };
  record.tunnel = { $bytes: '' };
  record.calls = [];
  const sev = (name, extra) => rec.event(events, { src: 'socket', name, t: rec.t(), ...(extra || {}) });
  socket.on('data', (chunk) => {
    if (rec.frozen) return;
    const buf = toBuffer(chunk);
    parts.push(buf);
    state.bytes += buf.length;
    record.tunnel = { $bytes: Buffer.concat(parts).toString('base64') };
    sev('data', { len: buf.length });
  });
  socket.on('end', () => { state.ended = true; sev('end'); });
  socket.on('close', () => { state.ended = true; state.closed = true; sev('close'); });
  socket.on('error', (err) => sev('error', { error: errorRecord(err) }));
  const push = (call) => pushCall(rec, record.calls, call);
  const waitFor = async (name, pred, what) => {
    const r = await rec.untilOrDeadline(pred);
    push({ op: name, returned: { $undefined: true }, threw: r === 'timeout' ? { name: 'HarnessTimeout', code: null, message: what } : null });
  };
  const runOne = async (op) => {
    const name = op && op.op;
    if (name === 'wait') {
      await Promise.race([rec.sleep(op.ms), rec.deadline]);
      push({ op: name, returned: { $undefined: true }, threw: null });
      return;
    }
    if (name === 'socket.wait_end') {
      await waitFor(name, () => state.ended, "the socket did not end");
      return;
    }
    if (name === 'socket.wait_bytes') {
      const n = Number(op.bytes) || 0;
      await waitFor(name, () => state.bytes >= n, `fewer than ${n} bytes arrived on the socket`);
      return;
    }
    if (otherOp(op, record.calls)) return;
    const method = typeof name === 'string' && name.startsWith('socket.') ? name.slice(7) : null;
    if (!method || !SOCKET_OPS.has(method)) {
      unknownOp(rec, record.calls, top, 'tunnel', name);
      return;
    }
    try {
      const args = decode(op.args ?? [], ctx);
      if (method === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
      push({ op: name, returned: encode(socket[method](...args), socket), threw: null });
    } catch (e) {
      push({ op: name, returned: null, threw: errorRecord(e) });
    }
  };
  return (async () => {
    try {
      for (const op of ops) {
        if (rec.timedOut || rec.frozen) break;
        await runOne(op);
      }
    } catch (e) {
      top.status = 'error';
      top.detail = `executor error in tunnel ops: ${describe(e)}`;
    }
    await rec.untilOrDeadline(() => state.closed || socket.destroyed);
  })();
}

// ---------------------------------------------------------------------------------------
// Server scenarios

/**
 * Create and start the scenario's servers. `listen(server, port)` is the wrapper's way
 * of starting one (node/bun/deno: listen on 127.0.0.1, read server.address()); it
 * resolves to [host, port]. Returns a session whose .addresses[i] is [host, port] for
 * servers[i], or null when that server did not start (see observations.servers[i]).
 */
export async function startServers(http, scenario, listen) {
  const session = {
    addresses: [],
    obs: { status: 'ok', detail: '', servers: [], requests: [] },
    rec: null,
    servers: [],
    handlers: [],
    clientErrors: [], // one per 'clientError' whose ops run: {done}
    tunnels: [], // one per 'upgrade' / 'connect' whose ops run: {done, socket}
    ctx: null,
  };
  try {
    session.rec = new Recorder(scenario && scenario.timeout_ms);
    session.ctx = newContext(http, session.rec, null);
    if (scenario && scenario.kind !== undefined && scenario.kind !== 'server') {
      throw new Error(`startServers got a scenario of kind ${JSON.stringify(scenario.kind)}`);
    }
    const specs = (scenario && scenario.servers) || [];
    for (let i = 0; i < specs.length; i++) {
      session.addresses.push(await startOne(http, session, specs[i] || {}, i, listen));
    }
  } catch (e) {
    session.obs.status = 'error';
    session.obs.detail = `executor error: ${describe(e)}`;
    while (session.addresses.length < ((scenario && scenario.servers) || []).length) session.addresses.push(null);
  }
  return session;
}

async function startOne(http, session, spec, index, listen) {
  const { rec, obs } = session;
  const srec = { port: null, address: null, listen_error: null, events: [] };
  obs.servers.push(srec);
  let server;
  try {
    server = http.createServer(decode(spec.options ?? {}, session.ctx));
  } catch (e) {
    srec.listen_error = errorRecord(e);
    session.servers.push(null);
    return null;
  }
  session.servers.push(server);
  // `set`: properties assigned before listen (maxRequestsPerSocket has no option form).
  for (const [prop, value] of Object.entries(spec.set ?? {})) {
    try {
      server[prop] = decode(value, session.ctx);
    } catch (e) {
      obs.status = 'error';
      obs.detail = `executor error setting server.${prop}: ${describe(e)}`;
    }
  }
  for (const name of SERVER_EVENTS) {
    server.on(name, () => rec.event(srec.events, { name, t: rec.t() }));
  }
  server.on('error', (err) => rec.event(srec.events, { name: 'error', t: rec.t(), error: errorRecord(err) }));
  // 'request', and the optional listeners whose presence changes what Node does:
  // with 'checkContinue' / 'checkExpectation' the request goes to them instead of
  // 'request'; with 'clientError' Node no longer answers a bad request itself.
  const listeners = [['request', spec.handler || []]];
  if (Array.isArray(spec.on_check_continue)) listeners.push(['checkContinue', spec.on_check_continue]);
  if (Array.isArray(spec.on_check_expectation)) listeners.push(['checkExpectation', spec.on_check_expectation]);
  for (const [event, ops] of listeners) {
    server.on(event, (req, res) => {
      try {
        handleRequest(session, index, ops, req, res, event);
      } catch (e) {
        if (e && e[HANDLER_THROW]) throw e; // the scenario's own `throw` op: out of the listener

        session.obs.status = 'error';
        session.obs.detail = `executor error in handler: ${describe(e)}`;
      }
    });
  }
  if (Array.isArray(spec.on_client_error)) {
    server.on('clientError', (err, socket) => {
      try {
        handleClientError(session, index, srec, spec.on_client_error, err, socket);
      } catch (e) {
        session.obs.status = 'error';
        session.obs.detail = `executor error in clientError: ${describe(e)}`;
      }
    });
  }
  // 'upgrade' / 'connect' listeners: present only when asked for, since Node routes an
  // Upgrade request to 'request' when nobody listens for 'upgrade'.
  for (const [key, event] of [['on_upgrade', 'upgrade'], ['on_connect', 'connect']]) {
    if (!Array.isArray(spec[key])) continue;
    server.on(event, (req, socket, head) => {
      try {
        handleTunnelRequest(session, index, spec[key], req, socket, head, event);
      } catch (e) {
        session.obs.status = 'error';
        session.obs.detail = `executor error in ${event}: ${describe(e)}`;
      }
    });
  }
  try {
    const address = await listen(server, spec.listen ?? 0);
    const [host, port] = address;
    srec.port = port;
    srec.address = readProp(() => server.address());
    return [host, port];
  } catch (e) {
    srec.listen_error = errorRecord(e);
    return null;
  }
}

function handleRequest(session, serverIndex, ops, req, res, event) {
  const { rec } = session;
  if (rec.frozen) return; // the scenario is over; the server is closing
  const entry = {
    server: serverIndex,
    event,
    method: readProp(() => req.method),
    url: readProp(() => req.url),
    httpVersion: readProp(() => req.httpVersion),
    headers: readProp(() => req.headers),
    rawHeaders: readProp(() => req.rawHeaders),
    headersDistinct: readProp(() => req.headersDistinct),
    trailers: readProp(() => req.trailers),
    complete: readProp(() => req.complete),
    body: { $bytes: '' },
    chunks: [],
    calls: [],
    events: [],
  };
  session.obs.requests.push(entry);
  const st = { parts: [], ended: false, reqGone: false, resClosed: false, opsDone: false };
  const h = { st, entry, req, res, readTail: null, serverIndex };
  session.handlers.push(h);
  const ev = (src, name, extra) => rec.event(entry.events, { src, name, t: rec.t(), ...(extra || {}) });
  const readTail = () => {
    if (rec.frozen) return;
    entry.trailers = readProp(() => req.trailers);
    entry.complete = readProp(() => req.complete);
    entry.body = { $bytes: Buffer.concat(st.parts).toString('base64') };
  };
  h.readTail = readTail;

  // The body is always collected, with this listener attached before the first op.
  req.on('data', (chunk) => {
    if (rec.frozen) return;
    const buf = toBuffer(chunk);
    st.parts.push(buf);
    entry.chunks.push({ t: rec.t(), len: buf.length });
    ev('req', 'data', { len: buf.length });
  });
  for (const name of SERVER_REQ_EVENTS) {
    req.on(name, () => {
      // State first: ev() wakes the waiters, which read it (req.read_body waits on st.ended).
      if (name === 'end') st.ended = true;
      if (name === 'close' || name === 'aborted') st.reqGone = true;
      ev('req', name);
      if (name === 'end' || name === 'close') readTail();
    });
  }
  req.on('error', (err) => {
    st.reqGone = true;
    ev('req', 'error', { error: errorRecord(err) });
  });
  for (const name of SERVER_RES_EVENTS) {
    res.on(name, () => {
      if (name === 'close') st.resClosed = true;
      ev('res', name);
    });
  }
  res.on('error', (err) => ev('res', 'error', { error: errorRecord(err) }));

  if (ops[0] && ops[0].op === 'throw') {
    // A handler that throws: synchronously out of the 'request' listener, no other op runs.
    const err = new Error(String(ops[0].message ?? 'handler threw'));
    err[HANDLER_THROW] = true;
    pushCall(rec, entry.calls, { op: 'throw', returned: null, threw: errorRecord(err) });
    st.opsDone = true;
    throw err;
  }
  (async () => {
    try {
      for (const op of ops) {
        if (rec.timedOut || rec.frozen) break;
        const pending = serverOp(op, h, session, ev); // see clientOp: only waits yield
        if (pending) await pending;
      }
    } catch (e) {
      session.obs.status = 'error';
      session.obs.detail = `executor error in handler ops: ${describe(e)}`;
    } finally {
      st.opsDone = true;
      readTail();
      rec.poke();
    }
  })();
}

/**
 * An 'upgrade' or 'connect' (req, socket, head): an entry in `requests` with `event`,
 * the request's head fields, `head` (the bytes after it) and the tunnel (runTunnel).
 */
function handleTunnelRequest(session, serverIndex, ops, req, socket, head, event) {
  const { rec } = session;
  if (rec.frozen) {
    try { socket.destroy(); } catch { /* the scenario is over */ }
    return;
  }
  const entry = {
    server: serverIndex,
    event,
    method: readProp(() => req.method),
    url: readProp(() => req.url),
    httpVersion: readProp(() => req.httpVersion),
    headers: readProp(() => req.headers),
    rawHeaders: readProp(() => req.rawHeaders),
    headersDistinct: readProp(() => req.headersDistinct),
    head: plain(head ? toBuffer(head) : Buffer.alloc(0)),
    calls: [],
    events: [],
  };
  session.obs.requests.push(entry);
  const run = { done: false, socket };
  session.tunnels.push(run);
  const other = (op, calls) => serverLevelOp(op, session, serverIndex, calls);
  runTunnel(ops, socket, entry, entry.events, session.ctx, session.obs, other).then(() => {
    run.done = true;
    rec.poke();
  });
}

/** Runs one handler op; returns a Promise only for the ops that wait. */
function serverOp(op, h, session, ev) {
  const { rec } = session;
  const { entry, req, res, st } = h;
  const name = op && op.op;
  if (name === 'wait') {
    return Promise.race([rec.sleep(op.ms), rec.deadline]).then(() => {
      pushCall(rec, entry.calls, { op: name, returned: { $undefined: true }, threw: null });
    });
  }
  if (name === 'req.read_body') {
    // 'end' is the signal; 'close', 'aborted' or 'error' mean the body will never end.
    const over = () => st.ended || st.reqGone;
    const done = (r) => pushCall(rec, entry.calls, {
      op: name, returned: { $undefined: true },
      threw: r === 'timeout' ? { name: 'HarnessTimeout', code: null, message: 'the request body did not end' } : null,
    });
    if (over()) return done('done');
    return rec.untilOrDeadline(over).then(done);
  }
  if (name === 'res.set') {
    try {
      res[op.prop] = decode(op.value, session.ctx);
      pushCall(rec, entry.calls, { op: name, returned: { $undefined: true }, threw: null });
    } catch (e) {
      pushCall(rec, entry.calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return;
  }
  if (name === 'res.get') {
    try {
      pushCall(rec, entry.calls, { op: name, returned: encode(res[op.prop], res), threw: null });
    } catch (e) {
      pushCall(rec, entry.calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return;
  }
  if (lifecycleOp(op, h, session, ev)) return;
  const reqMethod = typeof name === 'string' && name.startsWith('req.') ? name.slice(4) : null;
  if (reqMethod === 'get' || SERVER_REQ_OPS.has(reqMethod)) {
    // Reads and calls on the IncomingMessage (SCENARIO.md "Request reads and calls in a handler").
    try {
      const args = decode(op.args ?? [], session.ctx);
      if (reqMethod === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
      const returned = reqMethod === 'get' ? req[op.prop] : req[reqMethod](...args);
      pushCall(rec, entry.calls, { op: name, returned: encode(returned, req), threw: null });
    } catch (e) {
      pushCall(rec, entry.calls, { op: name, returned: null, threw: errorRecord(e) });
    }
    return;
  }
  if (serverLevelOp(op, session, h.serverIndex, entry.calls)) return;
  const method = typeof name === 'string' && name.startsWith('res.') ? name.slice(4) : null;
  if (!method || !SERVER_RES_OPS.has(method)) {
    unknownOp(rec, entry.calls, session.obs, 'server handler', name);
    return;
  }
  try {
    let args = decode(op.args ?? [], session.ctx);
    if (method === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
    if (SERVER_CB_OPS.has(method)) {
      args = [...args, (err) => ev('res', `${method}_cb`, err ? { error: errorRecord(err) } : undefined)];
    }
    const returned = res[method](...args);
    pushCall(rec, entry.calls, { op: name, returned: encode(returned, res), threw: null });
  } catch (e) {
    pushCall(rec, entry.calls, { op: name, returned: null, threw: errorRecord(e) });
  }
}

/**
 * The lifecycle ops of a handler (SCENARIO.md "Lifecycle ops"): res.on / socket.on (a
 * recording listener for one more res or req.socket event), socket.get / socket.call on
 * req.socket, same (whether two objects reachable from req/res are one) and
 * stream.finished(res). Returns true when `op` was one.
 */
function lifecycleOp(op, h, session, ev) {
  const { rec } = session;
  const { entry, req, res } = h;
  const name = op && op.op;
  if (!LIFECYCLE_OPS.has(name)) return false;
  if (name === 'socket.call' && !HANDLER_SOCKET_METHODS.has(op.method)) {
    unknownOp(rec, entry.calls, session.obs, 'socket.call', op.method);
    return true;
  }
  const roots = { req, res };
  const resolve = (path) => {
    const [root, prop] = String(path).split('.', 2);
    if (!(root in roots)) throw new Error(`same: unknown root ${JSON.stringify(root)}`);
    return prop === undefined ? roots[root] : roots[root][prop];
  };
  try {
    let returned;
    if (name === 'res.on') {
      const event = String(op.event);
      returned = encode(res.on(event, (arg) => ev('res', event, arg instanceof Error ? { error: errorRecord(arg) } : undefined)), res);
    } else if (name === 'socket.on') {
      const event = String(op.event);
      const listener = (arg) => {
        if (arg instanceof Error) ev('socket', event, { error: errorRecord(arg) });
        else if (typeof arg === 'string' || arg instanceof Uint8Array) ev('socket', event, { len: toBuffer(arg).length });
        else ev('socket', event);
      };
      returned = encode(req.socket.on(event, listener), req.socket);
    } else if (name === 'stream.finished') {
      returned = encode(streamFinished(res, (err) => ev('res', 'finished_cb', err ? { error: errorRecord(err) } : undefined)));
    } else if (name === 'socket.get') {
      returned = encode(req.socket[op.prop], req.socket);
    } else if (name === 'socket.call') {
      returned = encode(req.socket[op.method](...decode(op.args ?? [], session.ctx)), req.socket);
    } else {
      returned = resolve(op.a) === resolve(op.b);
    }
    pushCall(rec, entry.calls, { op: name, returned, threw: null });
  } catch (e) {
    pushCall(rec, entry.calls, { op: name, returned: null, threw: errorRecord(e) });
  }
  return true;
}

/**
 * Ops on the server itself and the shared reads, usable in every server op list:
 * server.close (its callback recorded as the server event 'close_cb'),
 * server.closeIdleConnections, server.closeAllConnections, {"op": "server.get", "prop": P},
 * agent.get, agent.call, module.get. Returns true when `op` was one of them.
 */
function serverLevelOp(op, session, serverIndex, calls) {
  const { rec } = session;
  const name = op && op.op;
  if (sharedOp(op, session.ctx, calls, session.obs, rec)) return true;
  if (typeof name !== 'string' || !name.startsWith('server.')) return false;
  const server = session.servers[serverIndex];
  const srec = session.obs.servers[serverIndex];
  const method = name.slice(7);
  if (method !== 'get' && method !== 'set' && !SERVER_OPS.has(method)) {
    unknownOp(rec, calls, session.obs, 'server', name);
    return true;
  }
  try {
    if (method === 'get') {
      pushCall(rec, calls, { op: name, returned: encode(server[op.prop], server), threw: null });
      return true;
    }
    if (method === 'set') {
      server[op.prop] = decode(op.value, session.ctx);
      pushCall(rec, calls, { op: name, returned: { $undefined: true }, threw: null });
      return true;
    }
    let args = decode(op.args ?? [], session.ctx);
    if (method === 'close') {
      args = [...args, (err) => rec.event(srec.events, { name: 'close_cb', t: rec.t(), ...(err ? { error: errorRecord(err) } : {}) })];
    }
    if (method === 'asyncDispose') {
      // server[Symbol.asyncDispose](): its promise settling is the server event 'dispose_cb'.
      const pending = server[Symbol.asyncDispose](...args);
      Promise.resolve(pending).then(
        () => rec.event(srec.events, { name: 'dispose_cb', t: rec.t() }),
        (err) => rec.event(srec.events, { name: 'dispose_cb', t: rec.t(), error: errorRecord(err) }),
      );
      pushCall(rec, calls, { op: name, returned: encode(pending, server), threw: null });
      return true;
    }
    const returned = server[method](...args);
    pushCall(rec, calls, { op: name, returned: encode(returned, server), threw: null });
  } catch (e) {
    pushCall(rec, calls, { op: name, returned: null, threw: errorRecord(e) });
  }
  return true;
}

/**
 * A 'clientError' (err, socket): recorded as the server event {name: 'clientError',
 * error, calls}; its ops (socket.write, socket.end, socket.destroy, wait and the
 * server-level ops) run in order and their results go to that event's `calls`.
 */
function handleClientError(session, serverIndex, srec, ops, err, socket) {
  const { rec } = session;
  if (rec.frozen) return;
  const record = { name: 'clientError', t: rec.t(), error: errorRecord(err), calls: [] };
  rec.event(srec.events, record);
  const run = { done: false };
  session.clientErrors.push(run);
  (async () => {
    try {
      for (const op of ops) {
        if (rec.timedOut || rec.frozen) break;
        const name = op && op.op;
        if (name === 'wait') {
          await Promise.race([rec.sleep(op.ms), rec.deadline]);
          pushCall(rec, record.calls, { op: name, returned: { $undefined: true }, threw: null });
          continue;
        }
        if (serverLevelOp(op, session, serverIndex, record.calls)) continue;
        const method = typeof name === 'string' && name.startsWith('socket.') ? name.slice(7) : null;
        if (!method || !SOCKET_OPS.has(method)) {
          unknownOp(rec, record.calls, session.obs, 'clientError', name);
          continue;
        }
        try {
          const args = decode(op.args ?? [], session.ctx);
          if (method === 'destroy' && typeof args[0] === 'string') args[0] = new Error(args[0]);
          const returned = socket[method](...args);
          pushCall(rec, record.calls, { op: name, returned: encode(returned, socket), threw: null });
        } catch (e) {
          pushCall(rec, record.calls, { op: name, returned: null, threw: errorRecord(e) });
        }
      }
    } catch (e) {
      session.obs.status = 'error';
      session.obs.detail = `executor error in clientError ops: ${describe(e)}`;
    } finally {
      run.done = true;
      rec.poke();
    }
  })();
}

/**
 * Wait until every handler has run its ops and its response closed (or the scenario
 * deadline passed), then close the servers; returns server observations (without "wire").
 */
export async function finishServers(session) {
  const { obs, rec } = session;
  if (!rec) return obs;
  try {
    const allDone = () => session.handlers.every((h) => h.st.opsDone && h.st.resClosed)
      && session.clientErrors.every((run) => run.done)
      && session.tunnels.every((run) => run.done);
    const outcome = await rec.untilOrDeadline(allDone);
    if (outcome === 'timeout' && obs.status === 'ok') {
      obs.status = 'timeout';
      const pending = session.handlers
        .map((h, i) => (h.st.opsDone && h.st.resClosed ? null : `request ${i} (${h.st.opsDone ? "res 'close' missing" : 'ops still running'})`))
        .filter(Boolean);
      if (session.clientErrors.some((run) => !run.done)) pending.push('clientError ops still running');
      if (session.tunnels.some((run) => !run.done)) pending.push('an upgrade/connect socket still open');
      obs.detail = `scenario did not finish within ${rec.timeoutMs} ms` + (pending.length ? `: ${pending.join('; ')}` : '');
    }
    if (outcome === 'timeout') {
      for (const h of session.handlers) h.readTail();
      rec.frozen = true;
    }
    const closing = session.servers.filter(Boolean).map((server) => new Promise((resolve) => {
      try {
        if (!server.listening) { resolve(); return; }
        server.close(() => resolve());
        if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
      } catch {
        resolve();
      }
    }));
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  } catch (e) {
    obs.status = 'error';
    obs.detail = `executor error: ${describe(e)}`;
  } finally {
    rec.close();
    if (session.ctx) releaseAgents(session.ctx);
    for (const h of session.handlers) {
      try { if (!h.res.destroyed && !h.st.resClosed) h.res.destroy(); } catch { /* best effort */ }
    }
    for (const run of session.tunnels) {
      try { if (!run.socket.destroyed) run.socket.destroy(); } catch { /* best effort */ }
    }
    if (rec.uncaught.length) {
      const text = rec.uncaught.map((u) => `${u.name} at ${u.t} ms: ${u.error.name}: ${u.error.message}`).join('; ');
      obs.detail = obs.detail ? `${obs.detail}; ${text}` : text;
    }
  }
  return obs;
}
