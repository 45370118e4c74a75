// The archive's search box: Pagefind's UI over pagefind/, found from the page's data-root.
// The index is one bundle per year: pagefind/shards.json lists the years, newest first; the
// newest is opened and the others merged into it, so a new year changes no page. Pagefind's
// own files are loaded only once shards.json says there is an index (a build with search off
// has none): one request, not four, when there is nothing to search.
window.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("search");
  if (!box || !window.fetch) return;
  var root = new URL(box.getAttribute("data-root") || "./", location.href).pathname;
  var bundles = root + "pagefind/";
  fetch(bundles + "shards.json")
    .then(function (response) {
      return response.ok ? response.json() : {years: []};
    })
    .then(function (shards) {
      var years = (shards.years || []).filter(function (year) {
        return /^[0-9]{4}$/.test(year);
      });
      if (!years.length) return;  // no index: the box stays hidden
      var style = document.createElement("link");
      style.rel = "stylesheet";
      style.href = bundles + "pagefind-ui.css";
      document.head.appendChild(style);
      var script = document.createElement("script");
      script.src = bundles + "pagefind-ui.js";
      script.onload = function () {
        box.hidden = false;
        new PagefindUI({
          element: box,
          bundlePath: bundles + years[0] + "/",
          mergeIndex: years.slice(1).map(function (year) {
            return {bundlePath: bundles + year + "/", baseUrl: root};
          }),
          baseUrl: root,
          showImages: false,
          showSubResults: true,
          resetStyles: false,
          translations: {placeholder: "搜索论文、作者、关键词", zero_results: "没有找到与 [SEARCH_TERM] 相关的内容"},
        });
      };
      document.head.appendChild(script);
    })
    .catch(function () {});  // unreachable or not JSON: the site works without its search box
});
