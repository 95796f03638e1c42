// xterm.js writes its theme colours and cell sizes as text into <style> elements it makes
// itself. xenod's Content-Security-Policy (style-src 'self', no 'unsafe-inline') refuses
// inline styles: Chrome blocks (and reports) every <style> element put into the page, even an
// empty one, and the terminal would draw without its sizes and colours. A constructed style
// sheet (document.adoptedStyleSheets) is not an inline style. So this file, loaded before
// xterm.js, hands out an inert <xeno-style> element wherever a script asks for a <style>, and
// sends the text given to its textContent into a constructed sheet of its own: the policy
// stays strict and nothing is refused. The page's own code never makes <style> elements.
// docs/web.md, "Security".
(function () {
  'use strict';
  const create = Document.prototype.createElement;
  const adopted = new Map(); // <xeno-style> element -> its sheet

  function styleStandIn(doc) {
    const e = create.call(doc, 'xeno-style');
    const sheet = new CSSStyleSheet();
    let text = '';
    adopted.set(e, sheet);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    Object.defineProperty(e, 'textContent', {
      configurable: true,
      get: () => text,
      set: (t) => {
        text = String(t);
        sheet.replaceSync(text);
      },
    });
    return e;
  }

  Document.prototype.createElement = function (name, options) {
    if (String(name).toLowerCase() === 'style') return styleStandIn(this);
    return create.call(this, name, options);
  };

  // The sheets of stand-ins no longer in the document (a terminal that was disposed).
  window.xenoDropDetachedStyles = function () {
    const gone = new Set();
    for (const [el, sheet] of adopted) {
      if (!el.isConnected) {
        gone.add(sheet);
        adopted.delete(el);
      }
    }
    if (gone.size) document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => !gone.has(s));
  };
})();
