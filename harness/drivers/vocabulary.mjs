// The scenario vocabulary (vocabulary.json) for the JavaScript executor: the names and
// constants executor.mjs takes from it, and scenarioProblems(), the same check
// harness/vocabulary.py makes on the Python side (keep the two in step).
//
// The wrapper loads vocabulary.json and hands it to useVocabulary() before the first
// scenario: JSON modules are imported differently per runtime (node, bun and deno need
// `with { type: 'json' }`, workerd refuses it), so only the wrapper knows how.

let V = null;

/** Install the parsed vocabulary.json; derived tables are built once here. */
export function useVocabulary(raw) {
  const ops = new Map();
  for (const [name, entry] of Object.entries(raw.ops)) {
    if (entry.on !== undefined) {
      ops.set(name, {
        name, lists: entry.lists, fields: { args: 'list' }, optional: new Set(['args']),
        receiver: entry.on, method: name.split('.').pop(), args: entry.args, names: [], strictNames: false,
        callback: Boolean(entry.callback), errorArg: Boolean(entry.error_arg),
      });
    } else {
      ops.set(name, {
        name, lists: entry.lists, fields: entry.fields, optional: new Set(entry.optional ?? []),
        receiver: null, method: null, args: null, names: entry.names ?? [], strictNames: Boolean(entry.strict_names),
        callback: false, errorArg: false, eventSrc: entry.event_src ?? 'req',
      });
    }
  }
  const events = {};
  for (const [scope, sources] of Object.entries(raw.events)) {
    events[scope] = {};
    for (const [src, kinds] of Object.entries(sources)) events[scope][src] = new Set(Object.values(kinds).flat());
  }
  for (const op of ops.values()) {
    if (!op.callback || !op.receiver) continue;
    for (const list of op.lists) { // the receiver's events in that op list take "<method>_cb"
      const [scope, src] = raw.receivers[op.receiver].events[list];
      events[scope][src].add(`${op.method}_cb`);
    }
  }
  const timing = Object.fromEntries(Object.entries(raw.timing).map(([k, v]) => [k, v.value]));
  V = { raw, ops, events, timing };
}

/** The installed vocabulary (an executor bug if the wrapper installed none). */
export function vocabulary() {
  if (V === null) throw new Error('no vocabulary: the wrapper must call useVocabulary(vocabulary.json) first');
  return V;
}

/** Names of the events the executor records with a plain listener: events[scope][src].recorded. */
export function recordedEvents(scope, src) {
  return vocabulary().raw.events[scope][src].recorded ?? [];
}

// ---------------------------------------------------------------------------------------
// scenarioProblems: the rules of harness/vocabulary.py _Checker, on a concrete scenario.

function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  return typeof v; // number, string, boolean
}

const PATH = /^(?:req|res)(?:\.[A-Za-z_$][A-Za-z0-9_$]*)?$/; // op field kind "path"

const show = (v) => { try { return JSON.stringify(v); } catch { return String(v); } };

function fieldProblem(op, listName, field, kind, value, whole) {
  const where = `op ${show(op.name)}: \`${field}\``;
  if (kind === 'number' || kind === 'string' || kind === 'list') {
    return jsonType(value) === kind ? null : `${where} must be a ${kind}, got ${show(value)}`;
  }
  if (kind === 'name' && op.strictNames) {
    return op.names.includes(value) ? null : `${where}: unknown name ${show(value)} (known: ${op.names.join(', ')})`;
  }
  if (kind === 'name') {
    // Only lint holds a name to the op's `names`; an executor reads any, as Node would.
    return typeof value === 'string' ? null : `${where} must be a string, got ${show(value)}`;
  }
  const scope = V.events[listName] ?? {};
  if (kind === 'source') return value in scope ? null : `${where}: unknown event source ${show(value)}`;
  if (kind === 'event') {
    const src = 'src' in whole ? whole.src : op.eventSrc;
    if (!(src in scope)) return null; // reported for `src`
    return scope[src].has(value) ? null : `${where}: unknown ${src} event ${show(value)}`;
  }
  if (kind === 'path') {
    return typeof value === 'string' && PATH.test(value) ? null
      : `${where} must be req or res, optionally followed by one property, got ${show(value)}`;
  }
  if (kind === 'object') {
    const objects = Object.keys(V.raw.objects);
    return objects.includes(value) ? null : `${where}: unknown object ${show(value)} (known: ${objects.join(', ')})`;
  }
  return kind === 'any' ? null : `${where}: the vocabulary has no field kind ${show(kind)}`;
}

/**
 * The first thing wrong with one op of list `listName` as [key within the op or '',
 * message], null if nothing.
 */
export function opProblem(value, listName) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return ['', `an op is a mapping with \`op: <name>\`, got ${show(value)}`];
  }
  const op = typeof value.op === 'string' ? vocabulary().ops.get(value.op) : undefined;
  if (op === undefined) return ['op', `unknown op ${show(value.op ?? null)} in ${listName} ops`];
  if (!op.lists.includes(listName)) {
    return ['op', `op ${show(op.name)} is not one of the ${listName} ops (it goes in ${op.lists.join(' or ')} ops)`];
  }
  const extra = Object.keys(value).filter((k) => k !== 'op' && !(k in op.fields)).sort();
  if (extra.length) return [extra[0], `op ${show(op.name)} takes no field(s) ${show(extra)}`];
  for (const [field, kind] of Object.entries(op.fields)) {
    if (!(field in value)) {
      if (op.optional.has(field)) continue;
      return ['', `op ${show(op.name)} needs \`${field}\``];
    }
    const problem = fieldProblem(op, listName, field, kind, value[field], value);
    if (problem) return [field, problem];
  }
  const args = value.args ?? [];
  if (op.args && Array.isArray(args) && (args.length < op.args[0] || args.length > op.args[1])) {
    const [lo, hi] = op.args;
    return ['args', `op ${show(op.name)} takes ${lo === hi ? lo : `${lo} to ${hi}`} argument(s), got ${args.length}`];
  }
  return null;
}

function* at(data, pattern) {
  let found = [['', data]];
  for (const part of pattern.split('.')) {
    const step = [];
    for (const [path, node] of found) {
      if (part === '*' && Array.isArray(node)) node.forEach((item, i) => step.push([`${path}${i}.`, item]));
      else if (node && typeof node === 'object' && !Array.isArray(node) && part in node) step.push([`${path}${part}.`, node[part]]);
    }
    found = step;
  }
  for (const [path, node] of found) yield [path.slice(0, -1), node];
}

function tagProblems(value, path, out) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => tagProblems(item, `${path}.${i}`, out));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const tag = V.raw.tags[keys[0]];
    if (!tag || tag.by !== 'executor') {
      out.push(`${path.slice(1)}: ${tag ? `runner tag ${keys[0]} reached the target unresolved` : `unknown tag ${show(keys[0])}`}`);
      return;
    }
    const inner = value[keys[0]];
    if (keys[0] === '$plain' && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      // its keys are data: only its values can hold tags
      for (const k of Object.keys(inner)) tagProblems(inner[k], `${path}.$plain.${k}`, out);
      return;
    }
  }
  for (const k of keys) tagProblems(value[k], `${path}.${k}`, out);
}

/**
 * What is wrong with a scenario as the vocabulary sees it ([] if nothing): unknown op,
 * call or tag, an op in the wrong list, a missing or unknown field, a wrong argument count,
 * a bad timeout_ms. Each entry is "path: message".
 */
export function scenarioProblems(scenario) {
  const { raw, timing } = vocabulary();
  const out = [];
  if (scenario === null || typeof scenario !== 'object' || Array.isArray(scenario)) return ['a scenario is a mapping'];
  const timeout = scenario.timeout_ms;
  if (timeout !== undefined && timeout !== null
      && (typeof timeout !== 'number' || timeout < timing.min_timeout_ms || timeout > timing.max_timeout_ms)) {
    out.push(`timeout_ms: timeout_ms must be a number from ${timing.min_timeout_ms} to ${timing.max_timeout_ms}, got ${show(timeout)}`);
  }
  if (scenario.kind === 'client') {
    const calls = Object.keys(raw.calls).filter((name) => raw.calls[name].kind === 'client');
    for (const pattern of ['client', 'client.then.*']) {
      for (const [path, request] of at(scenario, pattern)) {
        const call = request && typeof request === 'object' ? request.call : undefined;
        if (call !== undefined && call !== null && !calls.includes(call)) {
          out.push(`${path}.call: unknown call ${show(call)} (a client scenario calls ${calls.join(' or ')})`);
        }
      }
    }
  }
  for (const [listName, entry] of Object.entries(raw.op_lists)) {
    for (const pattern of entry.at) {
      for (const [path, ops] of at(scenario, pattern)) {
        if (ops === null || ops === undefined) continue;
        if (!Array.isArray(ops)) {
          out.push(`${path}: ${listName} ops must be a list, got ${show(ops)}`);
          continue;
        }
        ops.forEach((op, i) => {
          const problem = opProblem(op, listName);
          if (problem) out.push(`${path}.${i}${problem[0] ? `.${problem[0]}` : ''}: ${problem[1]}`);
        });
      }
    }
  }
  tagProblems(scenario, '', out);
  return out;
}
