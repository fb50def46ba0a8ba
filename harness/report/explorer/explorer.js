// The explorer's behaviour (matrix.html embeds it): filters over the rendered matrix, and the
// detail of a cell built from the JSON island #explorer-data. Data from a target or a
// generated input only ever reaches the page as textContent, never as markup.
(() => {
  'use strict';
  const data = JSON.parse(document.getElementById('explorer-data').textContent);
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));

  /** An element with text children (strings) and element children; attrs set as properties. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'style') node.style.cssText = v;
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }
  const json = (v) => JSON.stringify(v, null, 2);
  const badge = (status, text) => {
    const s = data.statuses[status];
    return el('span', { class: 'badge', style: `background:${s.colour}`, title: s.meaning }, text || s.label);
  };

  // -- filters ------------------------------------------------------------------------
  function cellText(cell) {
    return [cell.message, ...(cell.causes || []).map((c) => `${c.id} ${c.title}`)].join(' ').toLowerCase();
  }

  function applyFilters() {
    const statuses = new Set($$('#filters input[name=status]:checked').map((i) => i.value));
    const feature = $('#f-feature').value;
    const target = $('#f-target').value;
    const text = $('#f-text').value.trim().toLowerCase();
    const showColumn = (t) => !target || t === target;
    $$('#matrix [data-target]').forEach((c) => c.classList.toggle('hidden', !showColumn(c.dataset.target)));
    let shown = 0;
    let total = 0;
    const featuresShown = new Set();
    for (const row of $$('#matrix tr.b')) {
      total += 1;
      const cells = Array.from(row.querySelectorAll('td[data-status]')).filter((c) => showColumn(c.dataset.target));
      const statusOk = cells.some((c) => statuses.has(c.dataset.status));
      const haystack = [row.dataset.behavior, row.firstElementChild.title,
        ...cells.map((c) => cellText(data.cells[Number(c.querySelector('button').dataset.cell)]))]
        .join(' ').toLowerCase();
      const visible = statusOk && (!feature || row.dataset.feature === feature) && (!text || haystack.includes(text));
      row.classList.toggle('hidden', !visible);
      if (visible) {
        shown += 1;
        featuresShown.add(row.dataset.feature);
      }
    }
    $$('#matrix tr.f').forEach((r) => r.classList.toggle('hidden', !featuresShown.has(r.dataset.feature)));
    $('#f-count').textContent = `${shown} of ${total} behaviors shown`;
  }

  // -- the detail of a cell -------------------------------------------------------------
  function section(title, ...body) {
    return [el('h3', {}, title), ...body.flat()];
  }

  function detail(cell) {
    const parts = [
      el('button', { type: 'button', class: 'close', 'data-close': '1' }, 'close'),
      el('h2', {}, badge(cell.status, cell.label), ' ', el('code', {}, cell.behavior), ' on ', el('b', {}, cell.target)),
      el('p', {}, cell.title, ' ', el('code', {}, cell.spec), ` (${cell.level})`),
    ];
    if (cell.message) parts.push(...section('Message', el('pre', {}, cell.message)));
    const ex = cell.example;
    parts.push(...section('Minimal example',
      ex ? [el('p', {}, `${ex.label}; ${cell.examples_run} examples run: ${json(cell.statuses)}`),
        el('pre', { class: 'inputs' }, json(ex.inputs))]
        : el('p', {}, 'no example was recorded')));
    if ((cell.reruns || []).length) parts.push(el('p', {}, `reruns of the example: ${cell.reruns.join(', ')}`));
    if (cell.failures.length) {
      parts.push(...section('Expected and observed', cell.failures.map((f) => el('div', { class: 'failure' },
        el('p', {}, el('code', {}, f.spec), ' cause ', el('code', {}, f.cause)),
        el('div', { class: 'side' },
          el('div', { class: 'expected' }, el('b', {}, 'expected (the spec)'), el('pre', {}, f.yaml),
            f.expected ? el('pre', {}, f.expected) : null),
          el('div', { class: 'observed' }, el('b', {}, `observed on ${cell.target}`), el('pre', {}, f.observed)))))));
    }
    const exchange = [];
    for (const d of cell.differences || []) exchange.push(el('li', {}, `differs from the oracle: ${d}`));
    for (const n of cell.notes || []) exchange.push(el('li', {}, `note: ${n.text} (see `, el('code', {}, n.behavior), ')'));
    parts.push(...section('Wire and exchange',
      exchange.length ? el('ul', {}, exchange) : el('p', {}, 'the results record no difference from the oracle and no notes'),
      cell.repro_file ? el('p', {}, 'the whole exchange (observations, wire) is in ', el('code', {}, cell.repro_file)) : null));
    if (cell.causes.length) {
      parts.push(...section('Causes', el('ul', {}, cell.causes.map((c) =>
        el('li', {}, el('code', {}, c.id), c.title !== c.id ? ` ${c.title}` : '', c.class ? ` (class ${c.class})` : '')))));
    }
    if ((cell.repro || []).length) {
      parts.push(...section('Reproduce', cell.repro.map((cmd) => el('pre', { class: 'cmd' }, cmd))));
    }
    return parts;
  }

  function open(index) {
    const cell = data.cells[index];
    const box = $('#detail');
    box.replaceChildren(...detail(cell));
    box.hidden = false;
    $$('#matrix td.selected').forEach((c) => c.classList.remove('selected'));
    const button = document.querySelector(`#matrix button[data-cell="${index}"]`);
    if (button) button.parentElement.classList.add('selected');
    history.replaceState(null, '', `#cell-${index}`);
  }

  document.addEventListener('click', (e) => {
    const target = e.target.closest('[data-cell], [data-close]');
    if (!target) return;
    if (target.dataset.close) {
      $('#detail').hidden = true;
      return;
    }
    open(Number(target.dataset.cell));
  });
  $('#filters').addEventListener('input', applyFilters);
  $('#filters').addEventListener('change', applyFilters);
  applyFilters();
  const linked = /^#cell-(\d+)$/.exec(location.hash);
  if (linked && data.cells[Number(linked[1])]) open(Number(linked[1]));
})();
