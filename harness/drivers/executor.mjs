// The one scenario executor shared by every JavaScript target (node, bun, deno via
// stdio_driver.mjs; workerd via its worker wrapper). It implements harness/SCENARIO.md:
// a scenario (plain JSON) in, observations (plain JSON) out. The names it knows (ops,
// events, props, tags) and its timing constants come from vocabulary.json (vocabulary.mjs);
// a scenario that uses anything else is answered {"status": "error", "detail": "scenario: ..."}
// before anything runs.
//
// Rules kept throughout this file:
// - `http` is handed in by the wrapper, so the wrapper decides how node:http is imported.
// - Nothing here touches process.stdin/stdout or other host I/O: workerd imports it too.
// - No exception escapes: JavaScript errors become data (error records), and executor
//   bugs become {"status": "error", "detail": ...}.
// - timeout_ms is enforced here: on expiry the observations so far are returned with
//   status "timeout", recording stops, and what is still open is destroyed.

import { Buffer } from 'node:buffer';
import events from 'node:events';
import { recordedEvents, scenarioProblems, vocabulary } from './vocabulary.mjs';
import process from 'node:process';
import { Readable, finished as streamFinished } from 'node:stream';

const MAX_ENCODE_DEPTH = 8;
// Optional keys of an error record, present only when the error has them (SCENARIO.md).
const ERROR_EXTRAS = ['syscall', 'address', 'port', 'bytesParsed'];

const timing = (name) => vocabulary().timing[name];
// Marks the error of a `throw` op, which leaves the 'request' (or 'upgrade' / 'connect') listener.
const HANDLER_THROW = Symbol('handlerThrow');

// Recorders of the scenarios currently running, so that a wrapper can attribute an
// uncaught exception to them (see recordUncaught).
const active = new Set();
// The errors a scenario's data makes (a listener's throw, destroy(err), a callback option's
// throw), each with the recorder of its scenario: a runtime may raise one after that
// scenario ended (Deno raised a handler's throw during the next one), and it must land in
// no other record.
const errorOwners = new WeakMap();

function scenarioError(rec, message) {
  const err = new Error(message);
  if (rec) errorOwners.set(err, rec);
  return err;
}

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
    this.timeoutMs = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : timing('default_timeout_ms');
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
  const owner = err !== null && typeof err === 'object' ? errorOwners.get(err) : undefined;
  if (owner !== undefined) {
    if (!active.has(owner)) return 0; // its scenario is over: it belongs to no running one
    owner.processEvent(kind, err);
    return 1;
  }
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
  return { http, rec, agentObs, agents: [], agentsById: new Map(), signals: [], restores: [], subclasses: new Map() };
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
          // Method overrides, assigned onto the agent as a program replaces a hook.
          for (const [k, v] of Object.entries(inner.overrides ?? {})) named[k] = decode(v, ctx);
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
      case '$url': { // a WHATWG URL object, with own properties added by assignment
        const url = new URL(String(inner?.url));
        for (const [k, v] of Object.entries(inner?.props ?? {})) url[k] = decode(v, ctx);
        return url;
      }
      case '$plain': { // an object whose one key starts with '$' and is data, not a tag
        const out = {};
        for (const [k, v] of Object.entries(inner ?? {})) out[k] = decode(v, ctx);
        return out;
      }
      case '$subclass': { // class extends http[name] {}: one per name and scenario (createServer's class options)
        const name = String(inner);
        if (!ctx.subclasses.has(name)) ctx.subclasses.set(name, class extends ctx.http[name] {});
        return ctx.subclasses.get(name);
      }
      case '$fn': {
        // A callback option as data: returns a fixed value, or throws new Error(throws).
        const spec = inner ?? {};
        const returned = decode(spec.returns, ctx);
        return () => {
          if (typeof spec.throws === 'string') throw scenarioError(ctx.rec, spec.throws);
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

// Client props read by code of their own (vocabulary client_props without `read`);
// res.isPaused_after_pause is recorded when the response is paused, and res.destroyed
// at res 'end' and 'close' (DESTROYED_AT) when they fire.
const PROPS_BY_NAME = {
  'res.req_is_req': (s) => (s.res ? s.res.req === s.req : null),
};
const DESTROYED_AT = { end: 'res.destroyed_at_end', close: 'res.destroyed_at_close' };

/** A client prop: its vocabulary `read` path ("req.socket.encrypted") from the request state. */
function readClientProp(st, key, entry) {
  if (!entry.read) return PROPS_BY_NAME[key](st);
  let cur = st;
  for (const part of entry.read.split('.')) {
    if (cur === null || cur === undefined) return null;
    cur = cur[part];
  }
  return cur;
}

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
  let unwatch = null;
  let perf = null;
  try {
    rec = new Recorder(scenario && scenario.timeout_ms);
    unwatch = watchWarnings(scenario, obs, rec);
    if (scenario && scenario.client && scenario.client.record_perf_http === true) {
      perf = await watchPerf(rec, obs.events, 'perf');
    }
    await clientBody(http, scenario, obs, rec);
  } catch (e) {
    obs.status = 'error';
    obs.detail = `executor error: ${describe(e)}`;
  } finally {
    if (perf) perf();
    if (unwatch) unwatch();
    if (rec) rec.close();
  }
  return obs;
}

/**
 * client.record_warnings: process 'warning' events during the scenario become
 * {src: 'process', name: 'warning', t, warning: {name, code, message}}. Returns the
 * function that stops listening (null when not asked).
 */
function watchWarnings(scenario, obs, rec) {
  const c = scenario && scenario.client;
  if (!c || c.record_warnings !== true) return null;
  const onWarning = (w) => rec.event(obs.events, { src: 'process', name: 'warning', t: rec.t(), warning: errorRecord(w) });
  process.on('warning', onWarning);
  return () => process.removeListener('warning', onWarning);
}

/**
 * record_perf_http (client, servers[i]): a PerformanceObserver of type 'http' (from
 * node:perf_hooks) watches while the scenario runs; each entry becomes the event
 * {src, name: entry.name ('HttpClient' | 'HttpRequest'), t, entry: {entryType, startTime,
 * duration, detail}} in `sink` (`src` left out when null: server events). Returns the
 * function that takes the entries still queued (observer callbacks are asynchronous),
 * records them too, even once the recorder froze, and disconnects. When the observer
 * cannot be made, the event `observe_threw` carries the error.
 */
async function watchPerf(rec, sink, src) {
  const record = (name, fields) => ({ ...(src ? { src } : {}), name, t: rec.t(), ...fields });
  const entryRecord = (e) => record(String(e.name), {
    entry: { entryType: plain(e.entryType), startTime: plain(e.startTime), duration: plain(e.duration), detail: plain(e.detail) },
  });
  let observer;
  try {
    const { PerformanceObserver } = await import('node:perf_hooks');
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) rec.event(sink, entryRecord(e));
    });
    observer.observe({ type: 'http' });
  } catch (e) {
    rec.event(sink, record('observe_threw', { error: errorRecord(e) }));
    return null;
  }
  return () => {
    try {
      for (const e of observer.takeRecords()) sink.push(entryRecord(e));
      observer.disconnect();
    } catch (e) {
      sink.push(record('observe_threw', { error: errorRecord(e) }));
    }
  };
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
  const problems = scenarioProblems(scenario);
  if (problems.length) {
    obs.status = 'error';
    obs.detail = `scenario: ${problems.join('; ')}`;
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
  if (outcome === 'timeout' && obs.status === 'ok') {
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
    st.fired.add(`${src}:${name}`); // wait_event waits for any recorded event
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
    for (const [k, entry] of Object.entries(vocabulary().raw.client_props)) {
      if (!entry.read && !(k in PROPS_BY_NAME)) continue;
      obs.props[k] = st.req ? readProp(() => readClientProp(st, k, entry)) : null;
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
    // request()/get()/new ClientRequest(): a synchronous throw is the whole observation of this request.
    let req;
    const signalsBefore = ctx.signals.length;
    try {
      const args = decode(c.args ?? [], ctx);
      // A call marked `construct` (ClientRequest) is a class: called with new.
      req = vocabulary().raw.calls[call]?.construct ? new ctx.http[call](...args) : ctx.http[call](...args);
    } catch (e) {
      obs.threw = errorRecord(e);
      settle();
      return;
    }
    st.req = req;
    for (const { controller, ms } of ctx.signals.slice(signalsBefore)) rec.setTimer(() => controller.abort(), ms);
    attachClientListeners(req, c, st, obs, rec, ev, mark, ctx, top);
    const env = {
      rec, ctx, top, push: (call) => pushCall(rec, obs.calls, call), fired: st.fired,
      receivers: { req, get res() { return st.res; } }, // res: the response so far (null before it)
      callback: (_receiver, method) => (err) => ev('req', `${method}_cb`, err ? { error: errorRecord(err) } : undefined),
    };
    const runOps = async () => {
      for (const op of c.ops ?? []) {
        if (rec.timedOut) break;
        // API ops run back to back in the same tick, as consecutive calls in a Node test
        // would; only the waiting ops yield to the event loop.
        const pending = runOp(op, env);
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
  for (const name of recordedEvents('client', 'req')) {
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
  if (c.throw_in === 'req:error') req.on('error', thrower(c, rec));
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
        const env = { rec, ctx, top, callback: null, receivers: { socket } };
        runTunnel(c.on_upgrade, socket, record, obs.events, env).then(() => {
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
  if (c.throw_in === 'response') req.on('response', thrower(c, rec));
}

/** A listener that throws new Error(c.throw_message), attached after the executor's own. */
function thrower(c, rec) {
  return () => { throw scenarioError(rec, String(c.throw_message ?? 'thrown by a listener')); };
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
  for (const name of recordedEvents('client', 'res')) {
    res.on(name, () => {
      ev('res', name);
      if (name === 'end' || name === 'close') readTail();
      if (name in DESTROYED_AT && !rec.frozen) obs.props[DESTROYED_AT[name]] = readProp(() => res.destroyed);
      if (name === 'end') {
        st.resEnded = true;
        rec.setTimer(() => { st.endGraceOver = true; rec.poke(); }, timing('end_grace_ms'));
      }
      if (name === 'close') st.resClosed = true;
      mark(`res:${name}`);
    });
  }
  res.on('error', (err) => {
    ev('res', 'error', { error: errorRecord(err) });
    mark('res:error');
  });
  if (c.throw_in === 'res:end') res.on('end', thrower(c, rec));
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
// Ops (SCENARIO.md). Which ops exist, where they may appear and what they take is the
// vocabulary's, and the scenario was checked against it before it started. A method op
// (one with a receiver) is called generically by callMethod; every other op is an entry
// of SPECIAL_OPS, keyed by its name.
//
// An op runs in an `env`: rec, ctx, top (takes status and detail), push(call),
// receivers (client: req, res; handler: req, res, server; clientError: socket, server;
// tunnels: socket, and server on a server's), callback(receiver, method) (the completion
// callback recorded as "<method>_cb"), and fired (client: the "src:name" events seen),
// h (handler: the request's state) or tunnel (tunnels: the socket's state).

const UNDEF = { $undefined: true };
const harnessTimeout = (message) => ({ name: 'HarnessTimeout', code: null, message });

/** Record what fn() returned (encoded, `receiver` as "$this") or threw as the op's call. */
function record(env, op, fn, receiver) {
  try {
    env.push({ op: op.op, returned: encode(fn(), receiver), threw: null });
  } catch (e) {
    env.push({ op: op.op, returned: null, threw: errorRecord(e) });
  }
}

/** `res.get` / `res.call` on a client before any response: recorded, no status change (a target may give none). */
function noResponse(op, env) {
  const message = 'no response yet (wait for it with wait_event first)';
  env.push({ op: op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_NO_RESPONSE', message } });
}

/**
 * req.get / res.get: records receiver[prop]; with `same_as` (an object of the vocabulary's
 * `objects`), whether it is that object instead: an object (a socket) is compared, never
 * encoded.
 */
function readOrCompare(op, env, receiver) {
  if (op.same_as === undefined) {
    record(env, op, () => receiver[op.prop], receiver);
    return;
  }
  record(env, op, () => {
    const value = receiver[op.prop];
    const [owner, part] = op.same_as.split('.');
    const base = env.receivers[owner];
    const other = part === undefined || base === null || base === undefined ? base : base[part];
    return value !== undefined && value !== null && value === other;
  });
}

/** socket.wait_end / socket.wait_bytes: until pred() holds on the tunnel's socket, or the deadline. */
function waitForSocket(op, env, pred, what) {
  return env.rec.untilOrDeadline(pred).then((r) => {
    env.push({ op: op.op, returned: UNDEF, threw: r === 'timeout' ? harnessTimeout(what) : null });
  });
}

/** The op's agent ("global" or a named one), or undefined once the scenario problem is recorded. */
function opAgent(op, env) {
  const agent = lookupAgent(env.ctx, op.agent);
  if (agent === undefined) {
    const message = `no agent ${JSON.stringify(op.agent)} in this scenario (give one with {"$agent": {"id": ...}} first)`;
    env.top.status = 'error';
    env.top.detail = `scenario: ${message}`;
    env.push({ op: op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_AGENT', message } });
  }
  return agent;
}

// The ops implemented by name; only the waiting ones return a Promise (the others run in
// the same tick as the op before them, as consecutive calls in a Node program do).
const SPECIAL_OPS = {
  wait: (op, env) => Promise.race([env.rec.sleep(op.ms), env.rec.deadline]).then(() => {
    env.push({ op: op.op, returned: UNDEF, threw: null });
  }),
  wait_event: (op, env) => {
    const key = `${op.src || 'req'}:${op.event}`;
    const done = (r) => env.push({
      op: op.op, returned: UNDEF, threw: r === 'timeout' ? harnessTimeout(`event ${key} did not fire`) : null,
    });
    if (env.fired.has(key)) return done('done');
    return env.rec.untilOrDeadline(() => env.fired.has(key)).then(done);
  },
  'req.read_body': (op, env) => {
    // 'end' is the signal; 'close', 'aborted' or 'error' mean the body will never end.
    const { st } = env.h;
    const over = () => st.ended || st.reqGone;
    const done = (r) => env.push({
      op: op.op, returned: UNDEF, threw: r === 'timeout' ? harnessTimeout('the request body did not end') : null,
    });
    if (over()) return done('done');
    return env.rec.untilOrDeadline(over).then(done);
  },
  'req.get': (op, env) => readOrCompare(op, env, env.receivers.req),
  'req.set': (op, env) => record(env, op, () => { env.receivers.req[op.prop] = decode(op.value, env.ctx); }),
  'readable.pipe': (op, env) => record(env, op, () => {
    // Readable.from(chunks).pipe(req): each chunk written in turn, then req.end().
    const source = Readable.from(decode(op.chunks ?? [], env.ctx));
    return source.pipe(env.receivers.req);
  }, env.receivers.req),
  'res.set': (op, env) => record(env, op, () => { env.receivers.res[op.prop] = decode(op.value, env.ctx); }),
  'res.get': (op, env) => {
    const { res } = env.receivers;
    if (!res) noResponse(op, env);
    else readOrCompare(op, env, res);
  },
  'res.call': (op, env) => {
    const { res } = env.receivers;
    if (!res) {
      noResponse(op, env);
      return;
    }
    record(env, op, () => {
      const args = decode(op.args ?? [], env.ctx);
      if (op.method === 'destroy' && typeof args[0] === 'string') args[0] = scenarioError(env.ctx.rec, args[0]);
      return res[op.method](...args);
    }, res);
  },
  'server.get': (op, env) => record(env, op, () => env.receivers.server[op.prop], env.receivers.server),
  'server.set': (op, env) => record(env, op, () => { env.receivers.server[op.prop] = decode(op.value, env.ctx); }),
  'module.get': (op, env) => record(env, op, () => env.ctx.http[op.prop], env.ctx.http),
  'module.call': (op, env) => record(env, op, () => env.ctx.http[op.method](...decode(op.args ?? [], env.ctx)), env.ctx.http),
  // A class node:http re-exports from the global scope (WebSocket): compared, never encoded.
  'module.same_global': (op, env) => record(env, op, () => {
    const value = env.ctx.http[op.prop];
    return value !== undefined && value !== null && value === globalThis[op.prop];
  }),
  // A bare object of a class node:http exports (new IncomingMessage()): its `read` props as
  // built, then again after the `assign` props are assigned (accessors run as Node's do).
  'module.new': (op, env) => record(env, op, () => {
    const obj = new env.ctx.http[op.class](...decode(op.args ?? [], env.ctx));
    const read = () => Object.fromEntries(op.read.map((p) => [p, obj[p]]));
    const out = { before: read() };
    if (op.assign !== undefined) {
      for (const [k, v] of Object.entries(decode(op.assign, env.ctx))) obj[k] = v;
      out.after = read();
    }
    return out;
  }),
  'module.set': (op, env) => record(env, op, () => {
    // Assigned for this scenario only: the old value goes back when it ends.
    const mod = moduleObject(env.ctx.http);
    const old = mod[op.prop];
    mod[op.prop] = decode(op.value, env.ctx);
    env.ctx.restores.push(() => { mod[op.prop] = old; });
  }),
  'agent.get': (op, env) => {
    const agent = opAgent(op, env);
    if (agent !== undefined) record(env, op, () => agent[op.prop], agent);
  },
  'agent.call': (op, env) => {
    const agent = opAgent(op, env);
    if (agent !== undefined) record(env, op, () => agent[op.method](...decode(op.args ?? [], env.ctx)), agent);
  },
  // Handler lifecycle ops (SCENARIO.md "Lifecycle ops"): one more recording listener on res
  // or req.socket, reads and calls on req.socket, identity of two objects, stream.finished.
  'res.on': (op, env) => record(env, op, () => {
    const { res } = env.receivers;
    return res.on(op.event, (arg) => env.ev('res', op.event, arg instanceof Error ? { error: errorRecord(arg) } : undefined));
  }, env.receivers.res),
  'socket.on': (op, env) => {
    const { socket } = env.receivers.req;
    record(env, op, () => socket.on(op.event, (arg) => {
      if (arg instanceof Error) env.ev('socket', op.event, { error: errorRecord(arg) });
      else if (typeof arg === 'string' || arg instanceof Uint8Array) env.ev('socket', op.event, { len: toBuffer(arg).length });
      else env.ev('socket', op.event);
    }), socket);
  },
  'socket.get': (op, env) => record(env, op, () => env.receivers.req.socket[op.prop], env.receivers.req.socket),
  'socket.call': (op, env) => {
    const { socket } = env.receivers.req;
    record(env, op, () => socket[op.method](...decode(op.args ?? [], env.ctx)), socket);
  },
  same: (op, env) => record(env, op, () => {
    // A path is req or res, optionally followed by one property (res.socket).
    const resolve = (path) => {
      const [root, prop] = String(path).split('.', 2);
      return prop === undefined ? env.receivers[root] : env.receivers[root][prop];
    };
    return resolve(op.a) === resolve(op.b);
  }),
  // Whether req / res (or a socket) is an instance of the scenario's {$subclass: name}.
  instance_of: (op, env) => {
    const cls = env.ctx.subclasses.get(op.subclass);
    if (cls === undefined) {
      const message = `no subclass ${JSON.stringify(op.subclass)} in this scenario (make one with {"$subclass": ...} first)`;
      env.top.status = 'error';
      env.top.detail = `scenario: ${message}`;
      env.push({ op: op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_NO_SUBCLASS', message } });
      return;
    }
    record(env, op, () => {
      const [root, prop] = String(op.object).split('.', 2);
      const obj = prop === undefined ? env.receivers[root] : env.receivers[root][prop];
      return obj instanceof cls;
    });
  },
  'stream.finished': (op, env) => record(env, op, () => streamFinished(env.receivers.res, (err) => (
    env.ev('res', 'finished_cb', err ? { error: errorRecord(err) } : undefined)))),
  throw: (op, env) => {
    // Only the first op of a handler or of a server's tunnel list throws (handleRequest,
    // handleTunnelRequest); anywhere else it is a scenario error.
    const message = 'op "throw" is only ever the first op of a handler, on_upgrade or on_connect';
    env.top.status = 'error';
    env.top.detail = `scenario: ${message}`;
    env.push({ op: op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_OP', message } });
  },
  reject: (op, env) => {
    // Only the last op of a handler rejects (handleRequest); anywhere else a scenario error.
    const message = 'op "reject" is only ever the last op of a handler';
    env.top.status = 'error';
    env.top.detail = `scenario: ${message}`;
    env.push({ op: op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_OP', message } });
  },
  'server.asyncDispose': (op, env) => {
    // server[Symbol.asyncDispose](): its promise settling is the server event 'dispose_cb'.
    const { server } = env.receivers;
    const done = env.callback('server', 'dispose');
    record(env, op, () => {
      const pending = server[Symbol.asyncDispose]();
      Promise.resolve(pending).then(() => done(), (err) => done(err));
      return pending;
    }, server);
  },
  'socket.wait_end': (op, env) => waitForSocket(op, env, () => env.tunnel.ended, 'the socket did not end'),
  'socket.wait_bytes': (op, env) => {
    const n = Number(op.bytes) || 0;
    return waitForSocket(op, env, () => env.tunnel.bytes >= n, `fewer than ${n} bytes arrived on the socket`);
  },
  'agent.pool': (op, env) => {
    const agent = opAgent(op, env);
    if (agent === undefined) return;
    try {
      env.push({ op: op.op, returned: poolCounts(agent[op.prop]), threw: null });
    } catch (e) {
      env.push({ op: op.op, returned: null, threw: errorRecord(e) });
    }
  },
};

/** A method op: receiver[method](...args), with the vocabulary's callback and error_arg. */
function callMethod(op, spec, env) {
  const target = env.receivers[spec.receiver];
  record(env, op, () => {
    let args = decode(op.args ?? [], env.ctx);
    if (spec.errorArg && typeof args[0] === 'string') args[0] = scenarioError(env.ctx.rec, args[0]);
    if (spec.callback) args = [...args, env.callback(spec.receiver, spec.method)];
    return target[spec.method](...args);
  }, target);
}

/** Runs one op; returns a Promise only for the ops that wait. */
function runOp(op, env) {
  const spec = vocabulary().ops.get(op && op.op);
  if (spec && spec.receiver) return callMethod(op, spec, env);
  if (spec && SPECIAL_OPS[spec.name]) return SPECIAL_OPS[spec.name](op, env);
  // The scenario was checked before it started: this executor lags behind the vocabulary.
  const message = `op ${JSON.stringify(op && op.op)} is not implemented by this executor`;
  env.top.status = 'error';
  env.top.detail = `executor error: ${message}`;
  env.push({ op: op && op.op, returned: null, threw: { name: 'HarnessError', code: 'ERR_HARNESS_UNKNOWN_OP', message } });
  return undefined;
}

/** A callback recorded as the server event "<method>_cb" (server.close's). */
function serverCallback(session, serverIndex, method) {
  const { rec } = session;
  const srec = session.obs.servers[serverIndex];
  return (err) => rec.event(srec.events, { name: `${method}_cb`, t: rec.t(), ...(err ? { error: errorRecord(err) } : {}) });
}

// ---------------------------------------------------------------------------------------
// Tunnels: the socket an 'upgrade' or 'connect' listener gets (SCENARIO.md "Upgrade and
// CONNECT")

/**
 * Watch the socket and run tunnel ops on it: bytes it delivers go to record.tunnel, its
 * events ({src: 'socket', name: data|end|close|error}) to `events`, op results to
 * record.calls. `env` is the ops' env without push and tunnel (receivers: socket, and
 * server on a server's). Resolves once the ops ran and the socket closed (or the
 * scenario deadline passed).
 */
function runTunnel(ops, socket, record, events, env) {
  const { rec } = env;
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
  const tunnelEnv = { ...env, tunnel: state, push: (call) => pushCall(rec, record.calls, call) };
  return (async () => {
    try {
      for (const op of ops) {
        if (rec.timedOut || rec.frozen) break;
        const pending = runOp(op, tunnelEnv);
        if (pending) await pending;
      }
    } catch (e) {
      env.top.status = 'error';
      env.top.detail = `executor error in tunnel ops: ${describe(e)}`;
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
    perf: [], // record_perf_http: what takes each observer's last entries and stops it
    ctx: null,
  };
  try {
    session.rec = new Recorder(scenario && scenario.timeout_ms);
    session.ctx = newContext(http, session.rec, null);
    if (scenario && scenario.kind !== undefined && scenario.kind !== 'server') {
      throw new Error(`startServers got a scenario of kind ${JSON.stringify(scenario.kind)}`);
    }
    const problems = scenarioProblems(scenario);
    if (problems.length) {
      // Nothing starts: every address is null, so no request is sent.
      session.obs.status = 'error';
      session.obs.detail = `scenario: ${problems.join('; ')}`;
      session.addresses = ((scenario && scenario.servers) || []).map(() => null);
      return session;
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
  // capture_rejections: events.captureRejections is read when an emitter is constructed,
  // so it is on while this server is created and restored at once (no other emitter sees it).
  const capture = spec.capture_rejections === true;
  const previous = events.captureRejections;
  try {
    if (capture) events.captureRejections = true;
    server = http.createServer(decode(spec.options ?? {}, session.ctx));
  } catch (e) {
    srec.listen_error = errorRecord(e);
    session.servers.push(null);
    return null;
  } finally {
    if (capture) events.captureRejections = previous;
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
  for (const name of recordedEvents('server', 'server')) {
    server.on(name, () => rec.event(srec.events, { name, t: rec.t() }));
  }
  if (spec.record_perf_http === true) {
    const stop = await watchPerf(rec, srec.events, null);
    if (stop) session.perf.push(stop);
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
        return handleRequest(session, index, ops, req, res, event); // a promise with `reject`
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
        if (e && e[HANDLER_THROW]) throw e; // the scenario's own `throw` op: out of the listener
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
  for (const name of recordedEvents('handler', 'req')) {
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
  for (const name of recordedEvents('handler', 'res')) {
    res.on(name, () => {
      if (name === 'close') st.resClosed = true;
      ev('res', name);
    });
  }
  res.on('error', (err) => ev('res', 'error', { error: errorRecord(err) }));

  if (ops[0] && ops[0].op === 'throw') {
    // A handler that throws: synchronously out of the 'request' listener, no other op runs.
    const err = scenarioError(rec, String(ops[0].message ?? 'handler threw'));
    err[HANDLER_THROW] = true;
    pushCall(rec, entry.calls, { op: 'throw', returned: null, threw: errorRecord(err) });
    st.opsDone = true;
    throw err;
  }
  const env = {
    rec, ctx: session.ctx, top: session.obs, push: (call) => pushCall(rec, entry.calls, call), h, ev,
    receivers: { req, res, server: session.servers[serverIndex] },
    callback: (receiver, method) => (receiver === 'server'
      ? serverCallback(session, serverIndex, method)
      : (err) => ev('res', `${method}_cb`, err ? { error: errorRecord(err) } : undefined)),
  };
  // `reject` as the last op: the listener is async, and its promise rejects once the ops
  // before it ran (what the runtime makes of that rejection is the observation).
  const last = ops[ops.length - 1];
  const rejects = Boolean(last && last.op === 'reject');
  let rejection = null;
  const running = (async () => {
    try {
      for (const op of rejects ? ops.slice(0, -1) : ops) {
        if (rec.timedOut || rec.frozen) break;
        const pending = runOp(op, env); // only the waiting ops yield
        if (pending) await pending;
      }
      if (rejects && !rec.timedOut && !rec.frozen) {
        rejection = scenarioError(rec, String(last.message ?? 'handler rejected'));
        pushCall(rec, entry.calls, { op: 'reject', returned: null, threw: errorRecord(rejection) });
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
  if (!rejects) return undefined;
  return running.then(() => { if (rejection) throw rejection; });
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
  if (ops[0] && ops[0].op === 'throw') {
    // A listener that throws: synchronously out of it, no other op runs. The socket is
    // then nobody's: the executor destroys it a turn later, so the client sees it close.
    const err = scenarioError(rec, String(ops[0].message ?? `${event} listener threw`));
    err[HANDLER_THROW] = true;
    pushCall(rec, entry.calls, { op: 'throw', returned: null, threw: errorRecord(err) });
    run.done = true;
    rec.setTimer(() => socket.destroy(), 0);
    throw err;
  }
  const env = {
    rec, ctx: session.ctx, top: session.obs,
    receivers: { socket, server: session.servers[serverIndex] },
    callback: (_receiver, method) => serverCallback(session, serverIndex, method),
  };
  runTunnel(ops, socket, entry, entry.events, env).then(() => {
    run.done = true;
    rec.poke();
  });
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
  const env = {
    rec, ctx: session.ctx, top: session.obs, push: (call) => pushCall(rec, record.calls, call),
    receivers: { socket, server: session.servers[serverIndex] },
    callback: (_receiver, method) => serverCallback(session, serverIndex, method),
  };
  (async () => {
    try {
      for (const op of ops) {
        if (rec.timedOut || rec.frozen) break;
        const pending = runOp(op, env);
        if (pending) await pending;
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
// One event-loop turn (ms 0) or a timer: what finishing waits for trailing 'close' events.
function settle(ms) {
  if (ms > 0 || typeof setImmediate !== 'function') return new Promise((r) => setTimeout(r, ms));
  return new Promise((r) => setImmediate(r));
}

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
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, timing('close_wait_ms')))]);
    await settle(timing('settle_ms'));
  } catch (e) {
    obs.status = 'error';
    obs.detail = `executor error: ${describe(e)}`;
  } finally {
    for (const stop of session.perf) stop();
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
