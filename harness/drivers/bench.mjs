// The bare loop of `python -m harness bench` (harness/bench/command.py): the exchanges of
// the bench mix done by the runtime's own node:http, timed inside the runtime, with no
// harness in between. Each exchange is timed alone (performance.now, milliseconds).
//
//   spec: {n, warm, client: {host, port, header: [name, value]}, server: {body_b64, port}, kinds?}
//   answer: {client_ms: [...], server_ms: [...]} (the kinds asked; default both)
//
// client: n times http.request GET to the harness's origin with one header, reading the
// whole response; a fresh connection each time (agent: false, and the origin answers
// `Connection: close`, which fetch-backed runtimes need), as a client scenario gets a
// fresh origin. server: n times what a server scenario does: http.createServer
// answering res.end(body), listen, one request from `serverExchange` (node/bun/deno:
// http.request over a fresh connection; workerd: a fetch to its bridge socket, the path a
// raw request takes there), close.

import { Buffer } from 'node:buffer';

function clientGet(http, options) {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      res.on('data', () => {});
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(n, once) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    out.push(performance.now() - t0);
  }
  return out;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

// serverExchange(http, {server, port}) -> Promise: one request to the listening server.
export function socketExchange(http, address) {
  return clientGet(http, { host: '127.0.0.1', port: address.port, path: '/', agent: false, headers: { Host: 'h' } });
}

export async function benchLoop(http, spec, serverExchange = socketExchange) {
  const { n, warm, client, server, kinds = ['client', 'server'] } = spec;
  const out = {};
  if (kinds.includes('client')) {
    const [name, value] = client.header;
    const get = () => clientGet(http, { host: client.host, port: client.port, path: '/', agent: false,
                                        headers: { [name]: value } });
    await timed(warm, get);
    out.client_ms = await timed(n, get);
  }
  if (!kinds.includes('server')) return out;
  const body = Buffer.from(server.body_b64, 'base64');
  const scenario = async () => {
    const srv = http.createServer((req, res) => res.end(body));
    try {
      await serverExchange(http, await listen(srv, server.port ?? 0));
    } finally {
      await close(srv);
    }
  };
  await timed(warm, scenario);
  out.server_ms = await timed(n, scenario);
  return out;
}

function close(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
