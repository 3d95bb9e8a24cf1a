// Dev only (next.config.mjs adds it to `next dev`, never to `next build`): marks each HTML
// element written in the app's own .tsx/.jsx files with where it is written,
// data-mgx-src="app/page.tsx:30", so MGX's Select in the preview can name the file and line.
// TypeScript's parser finds the tags; the text is only inserted into, so lines stay where they are.
const path = require("node:path");
const ts = require("typescript");

module.exports = function mgxSourceLoader(source) {
  const file = this.resourcePath;
  const where = path.relative(process.cwd(), file).split(path.sep).join("/");
  if (where.startsWith("..") || where.includes("node_modules/")) return source;
  const tree = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false,
    /x$/.test(file) ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const marks = [];
  (function visit(node) {
    if ((ts.isJsxOpeningElement(node) || ts.isJsxSelfClosingElement(node)) && ts.isIdentifier(node.tagName)
        && /^[a-z]/.test(node.tagName.text)) {
      const line = tree.getLineAndCharacterOfPosition(node.getStart(tree)).line + 1;
      marks.push([node.tagName.end, ` data-mgx-src="${where}:${line}"`]);
    }
    ts.forEachChild(node, visit);
  })(tree);
  let out = source;
  for (const [at, text] of marks.sort((a, b) => b[0] - a[0])) out = out.slice(0, at) + text + out.slice(at);
  return out;
};
