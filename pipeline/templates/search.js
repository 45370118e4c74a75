// The archive's search box: Pagefind's UI over pagefind/, found from the page's data-root.
window.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("search");
  if (!box || !window.PagefindUI) return;
  var root = new URL(box.getAttribute("data-root") || "./", location.href).pathname;
  box.hidden = false;
  new PagefindUI({
    element: box,
    bundlePath: root + "pagefind/",
    baseUrl: root,
    showImages: false,
    showSubResults: true,
    resetStyles: false,
    translations: {placeholder: "搜索论文、作者、关键词", zero_results: "没有找到与 [SEARCH_TERM] 相关的内容"},
  });
});
