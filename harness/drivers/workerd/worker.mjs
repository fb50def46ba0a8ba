// Worker wrapper for the workerd target (harness/targets/workerd.py).
//
// Entrypoints of this one worker share one isolate, and so one node:http port table:
//
//   control        the harness's requests, JSON in and out:
//                    POST /client  body: scenario; answers the client observations
//                    POST /server  body: lines, sent while the answer streams (full
//                                  duplex): first {scenario, bridges}, then, once the raw
//                                  client is done, "finish". Answers JSON lines: first
//                                  {"status": "ok", "addresses": [...]} once the servers
//                                  listen, then (after "finish") the server observations
//                    POST /reset   abandon any server scenario, close its servers
//                    POST /bench   body: bench spec; answers bench.mjs's timings (the bare loop)
//                    GET  /ping
//   bridge0..7     one socket per server slot. Raw requests from the harness's raw client
//                  arrive here and are handed, untouched, to the Node-style server of that
//                  slot through cloudflare:node: httpServerHandler({port}) by default,
//                  handleAsNodeRequest(port, request) when the scenario's server says
//                  "bridge": "handleAsNodeRequest".
//
// Why /server streams: a promise can only settle inside the request that created it, and
// not at all once that request has ended. Whatever the executor creates while starting
// the servers (timers, promises settled by the handlers) must therefore live in a request
// that stays open until the observations are collected. /server is that request, and the
// harness's "finish" arrives on it, as the next line of its still-open body: reading the
// body is pending I/O of that very request. (A separate /finish request settling a promise
// would not do: while /server waits on nothing but a promise, workerd sees no pending I/O
// or timer, decides the request hung and cancels it; polling a flag set by /finish cost a
// round trip and up to a timer tick per scenario.)
//
// Routing (harness/SCENARIO.md, "workerd bridge routing"): servers[i] is reached through
// bridge slot i. The k-th request arriving on slot i matches the k-th entry of
// scenario.requests whose "server" is i (the last such entry repeats); if that entry has
// a "port", the request goes to that raw port key instead of server i's, and a "bridge"
// in the entry overrides the server's. Scenarios run one at a time per target, so the
// wrapper keeps the routing state of the current one.

import http from 'node:http';
import process from 'node:process';
import { httpServerHandler, handleAsNodeRequest } from 'cloudflare:node';
import { connect } from 'cloudflare:sockets';
import { benchLoop } from '../bench.mjs';
import { runClient, startServers, finishServers, recordUncaught } from '../executor.mjs';
import { useVocabulary } from '../vocabulary.mjs';
// A json module of the config (workerd refuses `with { type: 'json' }`, which the other
// runtimes require: so each wrapper imports the vocabulary its own way).
import vocabulary from '../vocabulary.json';

useVocabulary(vocabulary);

// Exceptions that escape a listener go to the running scenario as "process" events, as
// stdio_driver.mjs does for node/bun/deno: whichever of these the runtime reports.
process.on('uncaughtException', (err) => recordUncaught('uncaughtException', err));
globalThis.addEventListener('unhandledrejection', (event) => {
  recordUncaught('unhandledRejection', event.reason);
  event.preventDefault();
});

// The server scenario in progress (null between scenarios).
let current = null;
// httpServerHandler objects, one per port key, created on first use (never at top level:
// the global scope may do no I/O).
const handlers = new Map();

function json(value, status = 200) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

function describe(e) {
  if (e instanceof Error) return e.stack ? String(e.stack) : `${e.name}: ${e.message}`;
  return String(e);
}

// The lines of a request body as they arrive (the body may still be open).
async function* bodyLines(request) {
  const reader = request.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line) yield line;
    }
  }
  pending = (pending + decoder.decode()).trim();
  if (pending) yield pending;
}

// node:http as handed to the executor for server scenarios: the module itself, except
// that createServer records each server in creation order (servers[i] is the i-th one), so
// the wrapper can route to it and close it when the scenario ends.
function trackingHttp(created) {
  const wrapped = Object.create(http);
  wrapped.createServer = (...args) => {
    const server = http.createServer(...args);
    created.push(server);
    return server;
  };
  return wrapped;
}

function closeQuietly(server) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 200);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      if (!server.listening) {
        done();
        return;
      }
      server.close(done);
      server.closeAllConnections?.();
    } catch {
      done();
    }
  });
}

// Abandon the current server scenario: free its ports (its /server request, if still open,
// answers an error on its next line).
async function endCurrent() {
  const session = current;
  current = null;
  if (!session) return;
  session.ended = true;
  await Promise.all(session.created.map(closeQuietly));
}

function listenVia(bridges, created) {
  // The executor's listen callback: listen on the port key. It answers
  // [bridge host, port key]: the executor records the port as servers[i].port, which must
  // be the port table's key (what server.address() says); the bridge addresses themselves
  // go back to the harness separately.
  return async (server, port) => {
    const index = Math.max(created.indexOf(server), 0);
    await new Promise((resolve, reject) => {
      const onError = (e) => reject(e);
      server.once('error', onError);
      try {
        server.listen(port, () => {
          server.off('error', onError);
          resolve();
        });
      } catch (e) {
        server.off('error', onError);
        reject(e);
      }
    });
    const address = server.address();
    const key = address && typeof address === 'object' ? address.port : port;
    return [bridges[index][0], key];
  };
}

async function serverScenario(lines, send) {
  const first = await lines.next();
  if (first.done) throw new Error('/server: the request body has no scenario line');
  const { scenario, bridges } = JSON.parse(first.value);
  await endCurrent();
  const servers = scenario.servers ?? [];
  if (servers.length > bridges.length) {
    await send({
      status: 'skipped',
      detail: `the workerd target has ${bridges.length} bridge slots; this scenario has ${servers.length} servers`,
    });
    return;
  }
  const queues = servers.map(() => []);
  for (const entry of scenario.requests ?? []) {
    queues[entry.server ?? 0]?.push(entry);
  }
  const session = {
    scenario,
    created: [],
    queues,
    arrived: servers.map(() => 0),
    ended: false,
    executor: null,
  };
  current = session;
  try {
    session.executor = await startServers(
      trackingHttp(session.created),
      scenario,
      listenVia(bridges, session.created),
    );
    const early = session.executor.obs;
    if (early && early.status !== 'ok') {
      // Nothing was started (a scenario the vocabulary refuses): answer at once.
      await send(await finishServers(session.executor));
      return;
    }
    await send({ status: 'ok', addresses: servers.map((_, i) => bridges[i]) });
    const next = await lines.next();
    if (session.ended || next.done || next.value !== 'finish') {
      await send({ status: 'error', detail: 'server scenario reset before it finished' });
      return;
    }
    // The harness ends the body right after "finish": reading to its end leaves the
    // connection clean for its next request.
    while (!(await lines.next()).done);
    await send(await finishServers(session.executor));
  } finally {
    if (current === session) await endCurrent();
  }
}

// The bare loop (drivers/bench.mjs). Its server exchange takes the path a raw request
// takes: a raw GET over a fresh TCP connection from here (cloudflare:sockets) to bridge
// slot 0's socket, routed to the bench's server as the only server of a stand-in scenario,
// read until workerd closes it. A fetch would not do: workerd's fetch keeps its connection
// to the bridge for the whole loop (strace: one connect for 50 fetches, a `Connection:
// close` request header notwithstanding), while each server scenario connects afresh.
const RAW_GET = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');

async function benchScenario(spec) {
  await endCurrent();
  const [host, port] = spec.bridges[0];
  const viaBridge = async (_http, address) => {
    const created = [];
    current = { scenario: { servers: [{}] }, queues: [[]], arrived: [0], created, executor: null };
    created.push(address.server);
    const socket = connect({ hostname: host, port });
    const writer = socket.writable.getWriter();
    await writer.write(RAW_GET);
    const reader = socket.readable.getReader();
    while (!(await reader.read()).done);
    await socket.close();
  };
  try {
    return await benchLoop(http, spec, viaBridge);
  } finally {
    current = null;
  }
}

function streamLines(work) {
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  const send = (value) => writer.write(encoder.encode(`${JSON.stringify(value)}\n`));
  (async () => {
    try {
      await work(send);
    } catch (e) {
      await send({ status: 'error', detail: describe(e) });
    } finally {
      await writer.close();
    }
  })().catch(() => {
    // The harness closed the connection (it gave up on the scenario): nobody to answer.
  });
  return new Response(readable, { headers: { 'content-type': 'application/x-ndjson' } });
}

// Which port key a request arriving on bridge slot `slot` goes to, and through what.
function route(slot) {
  const session = current;
  if (!session) return null;
  const spec = (session.scenario.servers ?? [])[slot] ?? {};
  const queue = session.queues[slot] ?? [];
  const k = session.arrived[slot]++;
  const entry = queue[Math.min(k, queue.length - 1)] ?? {};
  const mode = entry.bridge ?? spec.bridge ?? 'httpServerHandler';
  if (typeof entry.port === 'number') return { port: entry.port, mode };
  // The executor's own list keeps servers[i] at index i even when an earlier
  // createServer threw; creation order is the fallback.
  const own = session.executor?.servers;
  const usable = Array.isArray(own) && own.every((s) => s === null || typeof s?.address === 'function');
  const server = (usable ? own : session.created)[slot];
  const address = server?.listening ? server.address() : null;
  const port = address && typeof address === 'object' ? address.port : spec.listen ?? 0;
  return { port, mode };
}

function bridge(slot) {
  return {
    async fetch(request, env, ctx) {
      const target = route(slot);
      if (!target) {
        return new Response('workerd harness: no server scenario in progress\n', { status: 503 });
      }
      if (target.mode === 'handleAsNodeRequest') {
        return handleAsNodeRequest(target.port, request);
      }
      let handler = handlers.get(target.port);
      if (!handler) {
        handler = httpServerHandler({ port: target.port });
        handlers.set(target.port, handler);
      }
      return handler.fetch(request, env, ctx);
    },
  };
}

export const control = {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    try {
      switch (pathname) {
        case '/ping':
          return json({ status: 'ok' });
        case '/client':
          return json(await runClient(http, await request.json()));
        case '/server':
          return streamLines((send) => serverScenario(bodyLines(request), send));
        case '/bench':
          return json(await benchScenario(await request.json()));
        case '/reset':
          await endCurrent();
          return json({ status: 'ok' });
        default:
          return json({ status: 'error', detail: `unknown control path ${pathname}` }, 404);
      }
    } catch (e) {
      return json({ status: 'error', detail: describe(e) }, 500);
    }
  },
};

export const bridge0 = bridge(0);
export const bridge1 = bridge(1);
export const bridge2 = bridge(2);
export const bridge3 = bridge(3);
export const bridge4 = bridge(4);
export const bridge5 = bridge(5);
export const bridge6 = bridge(6);
export const bridge7 = bridge(7);

export default control;
