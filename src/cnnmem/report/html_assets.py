"""The report page's inline style sheet and script (no external resources of any kind).

The script does one thing: click a column header of a ``table.sortable`` to sort its rows
(numbers by the cell's ``data-v`` value, text otherwise; a second click reverses).
"""

from __future__ import annotations

CSS = """
:root { --fg: #1d2430; --muted: #5b6675; --line: #d9dee5; --bg: #ffffff; --panel: #f5f7fa;
        --ok: #1e7b34; --bad: #b3261e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header { padding: 18px 28px 10px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
              font-size: 12.5px; }
nav { position: sticky; top: 0; z-index: 2; background: var(--bg); padding: 6px 28px;
      border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: #1f5fbf; text-decoration: none; font-weight: 600; }
main { padding: 0 28px 40px; max-width: 1400px; }
section { padding-top: 10px; border-bottom: 1px solid var(--line); padding-bottom: 18px; }
h2 { font-size: 19px; margin: 18px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.verdict { padding: 12px 16px; border-radius: 6px; font-size: 16px; font-weight: 600;
           margin: 8px 0 12px; border-left: 6px solid; background: var(--panel); }
.verdict.ok { border-color: var(--ok); } .verdict.bad { border-color: var(--bad); }
.verdict.warn { border-color: var(--warn); }
.note { color: var(--muted); margin: 6px 0; }
.unavailable { padding: 10px 14px; background: #fff4e5; border-left: 5px solid var(--warn);
               border-radius: 4px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0; }
dl.kv dt { font-weight: 600; } dl.kv dd { margin: 0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 9px; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: var(--panel); position: sticky; top: 36px; }
.scroll th { top: 0; }
td:first-child { white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #9aa4b1; font-size: 11px; }
tr.peak td { background: #fde8e7; font-weight: 600; }
.yes { color: var(--ok); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.ok-text { color: var(--ok); }
.scroll { max-height: 560px; overflow: auto; border: 1px solid var(--line); }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
      margin-right: 6px; vertical-align: -1px; border: 1px solid rgba(0,0,0,.3); }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
        gap: 14px; }
figure { margin: 10px 0; } figure img { max-width: 100%; height: auto;
         border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12.5px; }
details summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
footer { padding: 10px 28px 30px; color: var(--muted); }
footer li { display: inline-block; margin-right: 14px; }
"""

SORT_JS = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-v');
    return v === null ? td.textContent.trim().toLowerCase() : parseFloat(v);
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        table.querySelectorAll('thead th').forEach(function (h) {
          h.removeAttribute('aria-sort');
        });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = (typeof x === 'number' && typeof y === 'number') ? x - y
                  : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""
