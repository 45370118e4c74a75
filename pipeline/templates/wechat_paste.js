/* The paste page: copies the article (text/html with a text/plain alternative), each field
   and the cover for the mp.weixin.qq.com editor. The HTML comes from the JSON block, never
   from the preview, so the clipboard holds exactly the article as rendered. */
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("paste-data").textContent);
  const article = document.getElementById("article");

  const say = (id, text, failed) => {
    const out = document.getElementById(id);
    out.textContent = text;
    out.className = failed ? "status failed" : "status done";
  };

  // The asynchronous API: several types in one clipboard item. It needs a secure context
  // (http://127.0.0.1 and https; file:// in Chromium but not in every browser).
  const asyncClipboard = () => window.isSecureContext && navigator.clipboard && typeof ClipboardItem !== "undefined";

  const writeItems = (items) => {
    if (!asyncClipboard()) return Promise.reject(new Error("no asynchronous clipboard"));
    const blobs = {};
    for (const [type, value] of Object.entries(items)) {
      blobs[type] = value instanceof Promise ? value : new Blob([value], { type });
    }
    return navigator.clipboard.write([new ClipboardItem(blobs)]);
  };

  // The older way: select, then execCommand("copy"). The copy event puts the exact types on
  // the clipboard; a browser that ignores them copies the selection, which stays visible so
  // that the editor can also press Ctrl+C.
  const copyBySelection = (items, node) => {
    let written = false;
    const onCopy = (event) => {
      for (const [type, value] of Object.entries(items)) event.clipboardData.setData(type, value);
      event.preventDefault();
      written = true;
    };
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.addEventListener("copy", onCopy);
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.removeEventListener("copy", onCopy);
    return copied || written;
  };

  const copy = (items, node) =>
    writeItems(items).catch(() => {
      if (!copyBySelection(items, node)) throw new Error("copy refused");
    });

  document.getElementById("copy-article").addEventListener("click", () => {
    const items = { "text/html": data.html, "text/plain": article.innerText };
    copy(items, article).then(
      () => say("copy-status", "已复制，请到公众号编辑器中粘贴。Copied: paste it into the editor."),
      () => say("copy-status", "没能自动复制：文章已选中，请按 Ctrl+C（Mac 上 ⌘C）复制。", true),
    );
  });

  for (const button of document.querySelectorAll("button[data-field]")) {
    button.addEventListener("click", () => {
      const key = button.dataset.field;
      const label = button.dataset.label;
      copy({ "text/plain": data.fields[key] }, document.getElementById(`field-${key}`)).then(
        () => say(`status-${key}`, `已复制${label}`),
        () => say(`status-${key}`, `没能自动复制：${label}已选中，请按 Ctrl+C 复制。`, true),
      );
    });
  }

  // The clipboard takes images as PNG only: other formats are drawn again as PNG.
  const pngOf = async (img) => {
    const blob = await (await fetch(img.src)).blob();
    if (blob.type === "image/png") return blob;
    const bitmap = await createImageBitmap(blob);
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    return new Promise((resolve, reject) =>
      canvas.toBlob((png) => (png ? resolve(png) : reject(new Error("not drawable"))), "image/png"),
    );
  };

  const cover = document.getElementById("cover");
  const coverButton = document.getElementById("copy-cover");
  if (cover && coverButton) {
    coverButton.addEventListener("click", () => {
      // the PNG as a promise: the clipboard is asked while the click still counts as the user's
      const png = asyncClipboard() ? pngOf(cover) : Promise.reject(new Error("no asynchronous clipboard"));
      png.catch(() => {}); // reported once, below
      writeItems({ "image/png": png }).then(
        () => say("status-cover", "已复制封面图片"),
        () => say("status-cover", "浏览器不允许从本地文件复制图片：请用「下载封面」保存后在编辑器中上传。", true),
      );
    });
    const showSize = () => {
      if (!cover.naturalWidth) return;
      const ratio = (cover.naturalWidth / cover.naturalHeight).toFixed(2);
      document.getElementById("cover-size").textContent = `${cover.naturalWidth}×${cover.naturalHeight} 像素，${ratio}:1`;
    };
    if (cover.complete) showSize();
    else cover.addEventListener("load", showSize);
  }
})();
