// The stdio driver for node, bun and deno: one long-lived process per target, which runs
// scenarios with executor.mjs. Protocol (one JSON object per line, both ways):
//
//   in:  {"id": n, "cmd": "client", "scenario": {...}}   out: {"id": n, ...client observations}
//   in:  {"id": n, "cmd": "start_servers", "scenario": {...}}
//                                                         out: {"id": n, "addresses": [[host, port] | null, ...]}
//   in:  {"id": n, "cmd": "finish_servers"}              out: {"id": n, ...server observations}
//   in:  {"id": n, "cmd": "bench", "spec": {...}}       out: {"id": n, ...bench.mjs's timings}
//   in:  {"id": n, "cmd": "version"}                     out: {"id": n, "runtime": "node", "version": "24.21.0", "node": "24.21.0"}
//   any failure of the driver itself:                    out: {"id": n, "error": "..."}
//
// stdout carries replies only; console output and logs go to stderr. The process exits
// once stdin closes and the commands in flight have replied.

import * as http from 'node:http';
import process from 'node:process';
import { benchLoop } from './bench.mjs';
import { finishServers, recordUncaught, runClient, startServers } from './executor.mjs';
import { useVocabulary } from './vocabulary.mjs';
import vocabulary from './vocabulary.json' with { type: 'json' };

useVocabulary(vocabulary);

// Keep stdout for replies: anything a runtime or a scenario logs goes to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

function runtimeInfo() {
  const nodeCompat = (process.versions && process.versions.node) || null;
  if (typeof globalThis.Bun !== 'undefined') return { runtime: 'bun', version: globalThis.Bun.version, node: nodeCompat };
  if (typeof globalThis.Deno !== 'undefined') return { runtime: 'deno', version: globalThis.Deno.version.deno, node: nodeCompat };
  return { runtime: 'node', version: nodeCompat, node: nodeCompat };
}

function reply(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    line = JSON.stringify({ id: obj && obj.id, error: `reply not serialisable: ${e && e.message}` });
  }
  process.stdout.write(line + '\n');
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address();
      resolve([a.address, a.port]);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

let session = null;
let pending = 0;
let stdinEnded = false;

// A late error of the scenario that just ended (a socket destroyed at its end can emit on a
// later tick) must not be pinned on the next one: two turns of the event loop let such
// errors arrive while no scenario runs; the process handlers below then only log them ("0
// scenario(s) running"). The turns start as soon as a reply is written (`settled`), while
// the harness reads it and judges the example, instead of when the next scenario arrives
// (two turns there cost node ~0.05 ms per example, bench's bare exchange being ~0.3 ms);
// before a scenario starts, one more hop to the check phase still lets the I/O that
// arrived with its command (the harness closing the last scenario's origin) go first.
// setImmediate, not setTimeout(0): a timer costs at least 1 ms (Node clamps it; Deno
// more), a turn of the loop microseconds.
const turn = () => new Promise((resolve) => setImmediate(resolve));
let settled = Promise.resolve();

async function settle() {
  await settled;
  await turn();
}

async function dispatch(msg) {
  const id = msg.id;
  switch (msg.cmd) {
    case 'client':
      await settle();
      return { id, ...(await runClient(http, msg.scenario)) };
    case 'start_servers': {
      if (session) {
        // A previous server scenario was never finished (the harness gave up on it):
        // close it so that it does not leak into this one.
        const stale = session;
        session = null;
        await finishServers(stale);
      }
      await settle();
      session = await startServers(http, msg.scenario, listen);
      return { id, addresses: session.addresses, status: session.obs.status, detail: session.obs.detail };
    }
    case 'finish_servers': {
      if (!session) return { id, error: 'finish_servers without start_servers' };
      const s = session;
      session = null;
      return { id, ...(await finishServers(s)) };
    }
    case 'version':
      return { id, ...runtimeInfo() };
    case 'bench':
      return { id, ...(await benchLoop(http, msg.spec)) };
    default:
      return { id, error: `unknown command ${JSON.stringify(msg.cmd)}` };
  }
}

function onLine(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    reply({ id: null, error: `bad JSON on stdin: ${e.message}` });
    return;
  }
  pending += 1;
  dispatch(msg)
    .then(reply, (e) => reply({ id: msg.id, error: `driver error: ${(e && e.stack) || e}` }))
    .finally(() => {
      settled = turn().then(turn);
      pending -= 1;
      if (stdinEnded && pending === 0) process.exit(0);
    });
}

process.on('uncaughtException', (err) => {
  const n = recordUncaught('uncaughtException', err);
  console.error(`[stdio_driver] uncaughtException (${n} scenario(s) running):`, err);
});
process.on('unhandledRejection', (err) => {
  const n = recordUncaught('unhandledRejection', err);
  console.error(`[stdio_driver] unhandledRejection (${n} scenario(s) running):`, err);
});

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (data) => {
  buffered += data;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim()) onLine(line);
  }
});
// stdin closed: the harness is done with us. Finish what is running, then exit.
process.stdin.on('end', () => {
  stdinEnded = true;
  if (pending === 0) process.exit(0);
});
