/**
 * The report's own script, run in the browser after the inlined Vega and Vega-Lite bundles. It
 * draws every plot as a live SVG view and shows tooltips in a small floating box (Vega's default
 * handler only sets a title attribute, which appears late and cannot hold a table).
 * `window.hesseReport.ready` resolves when every plot has rendered or failed.
 */
export const EMBED_SCRIPT = String.raw`
(function () {
  'use strict';
  var tip = document.createElement('div');
  tip.id = 'hesse-tooltip';
  tip.setAttribute('role', 'tooltip');
  tip.style.display = 'none';
  document.body.appendChild(tip);

  function formatValue(v) {
    if (typeof v === 'number') return isFinite(v) ? String(+v.toPrecision(6)) : String(v);
    return v === null || v === undefined ? '' : String(v);
  }

  function showTooltip(handler, event, item, value) {
    if (value === null || value === undefined || value === '') {
      tip.style.display = 'none';
      return;
    }
    tip.textContent = '';
    if (typeof value === 'object') {
      var table = document.createElement('table');
      Object.keys(value).forEach(function (key) {
        var row = table.insertRow();
        var k = row.insertCell();
        k.className = 'key';
        k.textContent = key;
        row.insertCell().textContent = formatValue(value[key]);
      });
      tip.appendChild(table);
    } else {
      tip.textContent = formatValue(value);
    }
    tip.style.display = 'block';
    var x = event.clientX + 14;
    var y = event.clientY + 14;
    var box = tip.getBoundingClientRect();
    if (x + box.width > window.innerWidth) x = Math.max(0, event.clientX - box.width - 14);
    if (y + box.height > window.innerHeight) y = Math.max(0, event.clientY - box.height - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  var containers = Array.prototype.slice.call(document.querySelectorAll('[data-hesse-plot]'));
  var state = { total: containers.length, rendered: 0, failed: 0, views: {} };
  window.hesseReport = state;
  state.ready = Promise.all(containers.map(function (el) {
    var id = el.getAttribute('data-hesse-plot');
    return Promise.resolve().then(function () {
      var spec = JSON.parse(document.getElementById('spec-' + id).textContent);
      var view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', container: el, hover: true });
      view.tooltip(showTooltip);
      state.views[id] = view;
      return view.runAsync();
    }).then(function () {
      el.setAttribute('data-rendered', 'true');
      state.rendered += 1;
    }, function (err) {
      el.setAttribute('data-rendered', 'failed');
      el.textContent = 'This plot could not be drawn (' + (err && err.message ? err.message : err) + '); the PNG in plots/ shows it.';
      state.failed += 1;
      console.error(err);
    });
  }));
})();
`;
