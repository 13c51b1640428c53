"use strict";
// The report's sample browser.  Reads the JSON block #samples-data and builds every node with
// createElement/textContent: generated text is never parsed as HTML.  Allowed by the page's CSP
// through this file's sha256 hash, so editing it changes the hash (computed when rendering).
(function () {
  var data = JSON.parse(document.getElementById("samples-data").textContent);
  var PAGE = 20;
  var MASK = "\u25cf";
  var $ = function (id) { return document.getElementById(id); };
  var state = { page: 0, reveal: !data.mask };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(select, values) {
    values.forEach(function (v) { var o = el("option", null, v); o.value = v; select.appendChild(o); });
  }
  fill($("f-arm"), data.arms);
  fill($("f-set"), data.probeSets);
  fill($("f-cat"), data.categories);
  fill($("f-group"), data.groups);
  fill($("f-flag"), data.flagCategories);
  $("f-reveal").checked = state.reveal;

  function filters() {
    return {
      arm: $("f-arm").value, set: $("f-set").value, cat: $("f-cat").value, group: $("f-group").value,
      flag: $("f-flag").value, q: $("f-q").value.trim().toLowerCase()
    };
  }

  function shownArms(f) {
    var out = [];
    data.arms.forEach(function (a, i) { if (!f.arm || f.arm === a) out.push(i); });
    return out;
  }

  function cellMatchesFlag(cell, flag) {
    if (!flag) return true;
    if (flag === "__any") return cell.fl === 1;
    if (flag === "__none") return cell.fl === 0;
    return cell.sp.some(function (s) { return s[2] === flag; });
  }

  function matches(pair, f, arms) {
    if (f.set && pair.s !== f.set) return false;
    if (f.cat && pair.c !== f.cat) return false;
    if (f.group && pair.g !== f.group) return false;
    var cells = arms.map(function (i) { return pair.cells[i]; }).filter(function (c) { return c; });
    if (!cells.length) return false;
    if (f.flag && !cells.some(function (c) { return cellMatchesFlag(c, f.flag); })) return false;
    if (f.q) {
      var hay = [pair.pr, pair.s + "/" + pair.p, pair.c, pair.g || ""];
      cells.forEach(function (c) { hay.push(c.t, c.id); });
      if (hay.join("\n").toLowerCase().indexOf(f.q) < 0) return false;
    }
    return true;
  }

  function textNode(cell) {
    var box = el("div", "text");
    if (!cell.t.trim()) { box.appendChild(el("span", "muted", "(empty: end of text at once)")); return box; }
    var pos = 0;
    cell.sp.forEach(function (s) {
      if (s[0] > pos) box.appendChild(document.createTextNode(cell.t.slice(pos, s[0])));
      var inner = cell.t.slice(s[0], s[1]);
      var mark = el("mark", "flag", state.reveal ? inner : MASK.repeat(inner.length));
      mark.title = state.reveal ? s[2] + ": " + inner : s[2];
      box.appendChild(mark);
      pos = s[1];
    });
    if (pos < cell.t.length) box.appendChild(document.createTextNode(cell.t.slice(pos)));
    return box;
  }

  function pairNode(pair, arms) {
    var box = el("div", "probe");
    box.appendChild(el("h3", null, pair.s + "/" + pair.p + " \u00b7 sample " + pair.i));
    var meta = "category " + pair.c + (pair.g ? " \u00b7 group " + pair.g : "");
    box.appendChild(el("p", "muted", meta));
    box.appendChild(el("div", "prompt", pair.pr));
    var row = el("div", "pair");
    arms.forEach(function (i) {
      var cell = pair.cells[i];
      var col = el("div", "gen");
      var head = el("h4", null, data.arms[i]);
      if (!cell) { col.appendChild(head); col.appendChild(el("p", "muted", "(no generation)")); row.appendChild(col); return; }
      col.setAttribute("data-id", cell.id);
      head.appendChild(el("span", "n", "seed " + cell.seed));
      cell.h.forEach(function (h) { head.appendChild(document.createTextNode(" ")); head.appendChild(el("span", "badge fail", h)); });
      col.appendChild(head);
      col.appendChild(el("code", "gid", cell.id));
      col.appendChild(textNode(cell));
      row.appendChild(col);
    });
    box.appendChild(row);
    return box;
  }

  function render() {
    var f = filters();
    var arms = shownArms(f);
    var hits = data.pairs.filter(function (p) { return matches(p, f, arms); });
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var list = $("samples-list");
    list.replaceChildren();
    hits.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (p) { list.appendChild(pairNode(p, arms)); });
    var gens = 0;
    hits.forEach(function (p) { arms.forEach(function (i) { if (p.cells[i]) gens += 1; }); });
    $("samples-count").textContent = hits.length + " of " + data.pairs.length + " prompt samples (" + gens +
      " of " + data.generations + " generations) \u00b7 page " + (state.page + 1) + " of " + pages;
    $("p-prev").disabled = state.page === 0;
    $("p-next").disabled = state.page >= pages - 1;
    document.body.classList.toggle("reveal", state.reveal);
  }

  ["f-arm", "f-set", "f-cat", "f-group", "f-flag"].forEach(function (id) {
    $(id).addEventListener("change", function () { state.page = 0; render(); });
  });
  $("f-q").addEventListener("input", function () { state.page = 0; render(); });
  $("f-reveal").addEventListener("change", function () { state.reveal = $("f-reveal").checked; render(); });
  $("p-prev").addEventListener("click", function () { state.page -= 1; render(); });
  $("p-next").addEventListener("click", function () { state.page += 1; render(); });
  $("samples-ui").hidden = false;
  $("samples-noscript").hidden = true;
  render();
})();
