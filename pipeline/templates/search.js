// The archive's search box, over the index `publish build` writes (pipeline/render/search.py):
// search/index.json lists the years, newest first, with their shards and issues;
// search/<year>/<n>.json maps each term to the positions of that year's issues that have it;
// issues/<id>/search.json holds the issue's documents (the issue and each paper).
// A query is cut into the same terms as the text (lower case, every two adjacent CJK
// characters, Latin words), the issues having them all are read newest first, and a document
// is a result only when it contains every word of the query as typed (a one-letter word, an
// initial or the 4 of "GPT 4", together with the word beside it, as typed). A page loads only
// search/index.json, the rest as the reader types; without that file the box is hidden.
(function () {
  "use strict";
  var CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;
  var PIECES = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+|[0-9a-z\u00c0-\u024f]+/g;
  var LATIN = /[0-9A-Za-z]/; // an excerpt starts at a word, not inside one
  var WORD = /[0-9a-z\u00c0-\u024f]/; // a letter or digit of a Latin word, in normalized text
  var PAGE = 20; // results shown at a time
  var BATCH = 6; // issue files read at once
  // Issue files read for one page of results at most: a phrase whose every pair of characters is
  // common, but which no issue holds, would otherwise load every issue of a long archive (~15 MB
  // at 500 issues). The reader is asked before more are read.
  var READ = 24;
  var WAIT = 150; // ms after the last keystroke

  var CRC_TABLE = (function () {
    var table = [];
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table.push(c >>> 0);
    }
    return table;
  })();

  function crc32(text) {  // zlib.crc32 of the UTF-8 bytes, as the build computes it
    var bytes = new TextEncoder().encode(text);
    var c = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  function normalize(text) {  // as the build does: lower case, full-width ＡＢＣ１２３ as ABC123
    return text.toLowerCase().replace(/[\uff01-\uff5e]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    });
  }

  // The query's pieces (each must appear in a result, see find) and the terms to look up. The
  // last Latin word, while it is being typed, may be the start of a longer one: it is matched in
  // the text of the candidates as an open piece but not looked up (unless it is the only word).
  function parse(query) {
    var typing = !/\s$/.test(query);
    var text = normalize(query);
    var words = [];
    var found;
    PIECES.lastIndex = 0;
    while ((found = PIECES.exec(text))) words.push({word: found[0], start: found.index, end: PIECES.lastIndex});
    var terms = [];
    words.forEach(function (w, i) {
      if (CJK.test(w.word.charAt(0))) {
        for (var j = 0; j + 1 < w.word.length; j++) terms.push(w.word.slice(j, j + 2));
      } else if (w.word.length >= 2 && !(typing && i === words.length - 1)) {
        terms.push(w.word);
      }
    });
    var last = words.length ? words[words.length - 1].word : "";
    var latin = last.length >= 2 && !CJK.test(last.charAt(0));
    var open = typing && last !== "" && !CJK.test(last.charAt(0)); // "Wei L" may be going on to "Wei Li"
    if (!terms.length && latin) {
      terms.push(last);
      open = false; // looked up whole in the index, so matched whole too ("li" is not "liu")
    }
    var pieces = phrases(text, words).map(function (piece) { return {text: piece, open: false}; });
    if (open) pieces[pieces.length - 1].open = true;
    return {
      words: words.length,  // none: the query is all punctuation and symbols
      pieces: pieces,
      terms: terms.filter(function (t, i) { return terms.indexOf(t) === i; }),
      unfinished: typing && latin,  // a Latin word is found whole: "Shapl" is not "Shapley"
    };
  }

  // The pieces a result must contain: each word, but a one-letter Latin word (P in "P Nguyen", a
  // digit) with the next word (or the one before, at the end) as typed, spaces made one: on its
  // own, "p" is in nearly every text.
  function phrases(text, words) {
    var groups = [];
    var pending = null; // the start of one-letter words waiting for the next word
    words.forEach(function (w) {
      var short = w.word.length < 2 && !CJK.test(w.word);
      if (short && pending === null) pending = w.start;
      if (short) return;
      groups.push({start: pending === null ? w.start : pending, end: w.end});
      pending = null;
    });
    if (pending !== null) {
      var end = words[words.length - 1].end;
      if (groups.length) groups[groups.length - 1].end = end;
      else groups.push({start: pending, end: end});
    }
    return groups.map(function (g) { return text.slice(g.start, g.end).replace(/\s+/g, " "); });
  }

  // Where a piece is in normalized text, from index `from` on, or -1. A Latin word is found whole, as
  // the index has it: "li" is not in "license" nor in "Liu", "cai" not in "Xiancai". An open
  // piece (the word being typed) may go on: "shapl" is in "shapley".
  function find(text, piece, from) {
    var word = piece.text;
    var at = text.indexOf(word, from);
    while (at >= 0) {
      var end = at + word.length;
      var whole = !(WORD.test(word.charAt(0)) && WORD.test(text.charAt(at - 1))) &&
        (piece.open || !(WORD.test(word.charAt(word.length - 1)) && WORD.test(text.charAt(end))));
      if (whole) return at;
      at = text.indexOf(word, at + 1);
    }
    return -1;
  }

  function start(box) {
    var root = box.getAttribute("data-root") || "./";
    var input = box.querySelector(".search-input");
    var status = box.querySelector(".search-status");
    var list = box.querySelector(".search-results");
    var more = box.querySelector(".search-more");
    var cache = {};
    var index = null;
    // The box is shown from the start (no jump of the header when the index arrives) and hidden
    // when there is no index: a build with search off.
    var ready = load("search/index.json").then(function (loaded) {
      if (!loaded || loaded.version !== 1 || !loaded.years || !loaded.years.length) throw new Error("no index");
      index = loaded;
    });
    var current = null; // the search under way; an older one stops when it sees it replaced
    var timer = 0;

    function load(path) {
      if (!cache[path]) {
        cache[path] = fetch(root + path).then(function (response) {
          if (!response.ok) throw new Error(path + ": " + response.status);
          return response.json();
        });
        cache[path].catch(function () { delete cache[path]; });
      }
      return cache[path];
    }

    function issuesWith(terms) {
      return Promise.all(index.years.map(function (year) {
        return Promise.all(terms.map(function (term) {
          var shard = crc32(term) % year.shards;
          return load("search/" + year.year + "/" + shard + ".json").then(function (postings) {
            return Object.prototype.hasOwnProperty.call(postings, term) ? postings[term] : [];
          });
        })).then(function (lists) {
          var kept = lists.reduce(function (a, b) {
            return a.filter(function (position) { return b.indexOf(position) >= 0; });
          });
          return kept.sort(function (a, b) { return a - b; }).map(function (p) { return year.issues[p]; });
        });
      })).then(function (perYear) {
        return [].concat.apply([], perYear);
      });
    }

    function matches(doc, pieces) {
      // the fields apart: a phrase never runs from the end of the title into the authors' line
      if (!doc.normalized) doc.normalized = [doc.title, doc.meta, doc.text].map(flat).join("\u0001");
      return pieces.every(function (piece) { return find(doc.normalized, piece, 0) >= 0; });
    }

    function flat(text) {  // normalized, each run of spaces and line breaks one space, as the pieces
      return normalize(text).replace(/\s+/g, " ");
    }

    // About 96 characters of the text around the first piece found in it.
    function excerpt(text, pieces) {
      text = text.replace(/\s+/g, " ");
      var normalized = normalize(text);
      var at = -1;
      pieces.forEach(function (piece) {
        var found = find(normalized, piece, 0);
        if (found >= 0 && (at < 0 || found < at)) at = found;
      });
      var from = Math.max(0, at - 24);
      while (from > 0 && at - from < 36 && LATIN.test(text.charAt(from - 1)) && LATIN.test(text.charAt(from))) from--;
      var piece = text.slice(from, from + 96).replace(/\s+/g, " ").trim();
      return (from > 0 ? "…" : "") + piece + (from + 96 < text.length ? "…" : "");
    }

    // The part of a document the excerpt comes from: its text, or the line of authors and venue
    // when only that has a piece of the query (an author's name), so the reader sees the match.
    function excerptSource(doc, pieces) {
      function has(text) {
        var normalized = flat(text || "");
        return pieces.some(function (piece) { return find(normalized, piece, 0) >= 0; });
      }
      return !has(doc.text) && has(doc.meta) ? doc.meta : doc.text || doc.meta;
    }

    function marked(parent, text, pieces) {  // text with each piece in <mark>, as DOM text (never HTML)
      var lower = normalize(text);
      var at = 0;
      while (at < text.length) {
        var next = -1, size = 0;
        pieces.forEach(function (piece) {
          var found = find(lower, piece, at);
          if (found >= 0 && (next < 0 || found < next)) { next = found; size = piece.text.length; }
        });
        if (next < 0) break;
        parent.appendChild(document.createTextNode(text.slice(at, next)));
        var mark = document.createElement("mark");
        mark.textContent = text.slice(next, next + size);
        parent.appendChild(mark);
        at = next + size;
      }
      parent.appendChild(document.createTextNode(text.slice(at)));
    }

    function show(issue, doc, pieces) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = root + doc.url;
      marked(link, doc.title.replace(/\s+/g, " "), pieces);
      var where = document.createElement("span");
      where.className = "where";
      // the date first: on a phone the line is cut with an ellipsis, the issue's title last
      where.textContent = issue.date + (doc.url.indexOf("#") >= 0 ? " · " + issue.title : "");
      var text = document.createElement("span");
      text.className = "excerpt";
      marked(text, excerpt(excerptSource(doc, pieces), pieces), pieces);
      item.appendChild(link);
      item.appendChild(where);
      if (doc.text || doc.meta) item.appendChild(text);
      list.appendChild(item);
    }

    // Show the next page of results. Issues are read a batch at a time and may hold many matches:
    // those beyond the page wait in search.waiting for the next click on 更多结果. After READ
    // issues without a page of results, the reader is asked whether to read on.
    function page(search) {
      more.hidden = true;
      var shown = 0;
      var read = 0;
      function step() {
        if (search !== current) return null;
        while (shown < PAGE && search.waiting.length) {
          var hit = search.waiting.shift();
          show(hit.issue, hit.doc, search.pieces);
          search.shown += 1;
          shown += 1;
        }
        if (shown >= PAGE || search.next >= search.issues.length || read >= READ) return done();
        var batch = search.issues.slice(search.next, search.next + BATCH);
        search.next += batch.length;
        read += batch.length;
        return Promise.all(batch.map(function (id) { return load("issues/" + id + "/search.json"); }))
          .then(function (issues) {
            if (search !== current) return null;
            issues.forEach(function (issue) {
              issue.docs.forEach(function (doc) {
                if (matches(doc, search.pieces)) search.waiting.push({issue: issue, doc: doc});
              });
            });
            return step();
          });
      }
      function done() {
        search.pages += 1;
        keep({pages: search.pages});
        var left = search.waiting.length > 0 || search.next < search.issues.length;
        more.hidden = !left;
        more.textContent = search.shown || !left ? "更多结果" : "继续搜索更早的期刊";
        if (search.shown) status.textContent = (left ? "前 " : "共 ") + search.shown + " 条结果";
        else if (left) status.textContent = "最新的 " + search.next + " 期里没有「" + search.query + "」";
        else status.textContent = "没有找到与「" + search.query + "」相关的内容" + (search.unfinished ? "（英文单词请输入完整）" : "");
        return null;
      }
      return step();
    }

    function remember(query) {  // ?q= in the address, so that going back to the page shows the search
      var url = new URL(location.href);
      if (query) url.searchParams.set("q", query);
      else url.searchParams.delete("q");
      if (url.href !== location.href) history.replaceState(history.state, "", url.href);
    }

    // Going back to the page rebuilds the results, unless the browser kept the page whole: as many
    // pages of them as the reader had opened, then the place they had scrolled to, both kept in
    // the history entry. (The browser's own restoring would scroll before the results are back,
    // past the end of the first page.)
    function keep(values) {
      var state = {};
      for (var key in history.state) state[key] = history.state[key];
      for (key in values) state[key] = values[key];
      history.replaceState(state, "", location.href);
    }

    function restore(back) {
      var search = current;
      if (!search || search.pages === 0) return null;
      if (search.pages < (back.pages || 0) && !more.hidden) {
        return Promise.resolve(page(search)).then(function () { return restore(back); });
      }
      if (back.scroll) window.scrollTo(0, back.scroll);
      return null;
    }

    function run(query) {
      remember(query.trim());
      keep({pages: 0, scroll: 0});
      if ("scrollRestoration" in history) history.scrollRestoration = query.trim() ? "manual" : "auto";
      var parsed = parse(query);
      list.textContent = "";
      more.hidden = true;
      current = null;
      if (!query.trim()) { status.textContent = ""; return Promise.resolve(); }
      if (!parsed.terms.length) {
        status.textContent = parsed.words ? "请至少输入两个字" : "请输入文字、字母或数字（标点和符号不参与搜索）";
        return Promise.resolve();
      }
      var search = {query: query.trim(), pieces: parsed.pieces, issues: [], next: 0, waiting: [], shown: 0,
                    pages: 0, unfinished: parsed.unfinished};
      current = search;
      status.textContent = "正在搜索…";
      return ready
        .then(function () { return issuesWith(parsed.terms); })
        .then(function (issues) {
          if (search !== current) return null;
          search.issues = issues;
          return page(search);
        })
        .catch(function () {
          if (search === current) status.textContent = "搜索暂时不可用，请稍后再试";
        });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(function () { run(input.value); }, WAIT);
    }
    // While an input method composes (pinyin shown in the box, as on iOS), the box holds letters
    // that are not the query: search when the reader picks the characters, not before.
    input.addEventListener("input", function (event) {
      if (!event.isComposing) later();
    });
    input.addEventListener("compositionend", later);
    box.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      run(input.value + " ");  // Enter: the last word is complete
    });
    more.addEventListener("click", function () {
      // page() answers null when the page is filled from results already read, a promise otherwise
      if (current) Promise.resolve(page(current)).catch(function () { status.textContent = "搜索暂时不可用，请稍后再试"; });
    });

    var saving;
    window.addEventListener("scroll", function () {
      if (!current) return;
      clearTimeout(saving);
      saving = setTimeout(function () { keep({scroll: window.scrollY}); }, 200);
    }, {passive: true});
    list.addEventListener("click", function () { keep({scroll: window.scrollY}); });  // before it leaves

    var asked = new URLSearchParams(location.search).get("q");
    var back = history.state || {};  // read before the search below resets it
    if (asked) {
      input.value = asked;
      run(asked + " ").then(function () { return restore(back); });
    }
    return ready.catch(function () { box.hidden = true; });
  }

  window.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("search");
    if (!box) return;
    if (!window.fetch || !window.TextEncoder || !window.URLSearchParams) { box.hidden = true; return; }
    start(box);
  });
})();
