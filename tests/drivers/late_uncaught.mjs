// tests/test_late_uncaught.py runs this with Node: a scenario's thrown error raised again
// while the next scenario runs (as Deno did) must land in neither scenario's record.
import * as http from 'node:http';
import process from 'node:process';
import { recordUncaught, runClient } from '../../harness/drivers/executor.mjs';
import { useVocabulary } from '../../harness/drivers/vocabulary.mjs';
import vocabulary from '../../harness/drivers/vocabulary.json' with { type: 'json' };

useVocabulary(vocabulary);
let thrown = null;
process.on('uncaughtException', (err) => {
  thrown ??= err;
  recordUncaught('uncaughtException', err);
});
// The head goes first and the body later: an exception thrown at 'response' leaves Node's
// parser failed, and body bytes read with the head would leave the request hanging.
const server = http.createServer((req, res) => {
  res.flushHeaders();
  setTimeout(() => res.end('ok'), req.url === '/slow' ? 150 : 50);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const request = (path, extra) => ({
  kind: 'client', id: path, timeout_ms: 2000,
  client: { args: [{ host: '127.0.0.1', port: server.address().port, path }], ops: [{ op: 'end' }], ...extra },
});
const first = await runClient(http, request('/', { throw_in: 'response', throw_message: 'the first one' }));
const second = runClient(http, request('/slow'));
setTimeout(() => {
  recordUncaught('uncaughtException', thrown); // the first scenario's error, late
  recordUncaught('uncaughtException', new Error('nobody made this one'));
}, 30);
const names = (obs) => obs.events.filter((e) => e.src === 'process').map((e) => e.error.message);
console.log(JSON.stringify({ first: names(first), second: names(await second), statuses: [first.status, (await second).status] }));
server.close();
