// MGX's preview script in Vite: dev only (`apply: "serve"`: `vite build` never sees it). Keep it.
// - mgxPreview() adds mgx-dev/preview.js to the page the dev server serves, with MGX's origin
//   (MGX_PUBLIC_URL), and tells it about Vite's compile errors and hot updates.
// - mgxSourceMarks is a Babel plugin for @vitejs/plugin-react (vite.config.js gives it only when
//   serving): each HTML element written in the app's .jsx files gets data-mgx-src="file:line",
//   the workspace path (frontend/src/...), which MGX's Select names to the team.
import path from "node:path";

export function mgxPreview() {
  let base = "/";
  return {
    name: "mgx-preview",
    apply: "serve",
    configResolved(config) { base = config.base; },
    // "pre": the dev server then serves the script as a module of its own, with import.meta.hot.
    transformIndexHtml: { order: "pre", handler() {
      const options = JSON.stringify({ mgxOrigin: process.env.MGX_PUBLIC_URL || "", base: base.replace(/\/$/, "") })
        .replace(/</g, "\\u003c");
      return [{
        tag: "script",
        attrs: { type: "module" },
        injectTo: "head-prepend",
        children: `import { startPreview } from ${JSON.stringify(`${base}mgx-dev/preview.js`)};
const preview = startPreview(${options});
const settle = () => setTimeout(preview.settled, 300);
if (preview.active) {
  addEventListener("load", settle);
  import.meta.hot.on("vite:beforeUpdate", () => preview.updating());
  import.meta.hot.on("vite:afterUpdate", settle);
  import.meta.hot.on("vite:error", ({ err }) => preview.error(\`Compile error: \${err.message}\`,
    err.loc ? \`\${err.loc.file}:\${err.loc.line}\` : err.id || ""));
}`,
      }];
    } },
  };
}

export function mgxSourceMarks({ types: t }) {
  const workspace = path.resolve(process.cwd(), "..");
  return {
    name: "mgx-source-marks",
    visitor: {
      JSXOpeningElement(element, state) {
        const name = element.node.name;
        const line = element.node.loc && element.node.loc.start.line;
        if (name.type !== "JSXIdentifier" || !/^[a-z]/.test(name.name) || !line || !state.filename) return;
        if (element.node.attributes.some((a) => a.type === "JSXAttribute" && a.name.name === "data-mgx-src")) return;
        const file = path.relative(workspace, state.filename).split(path.sep).join("/");
        element.node.attributes.push(t.jsxAttribute(t.jsxIdentifier("data-mgx-src"), t.stringLiteral(`${file}:${line}`)));
      },
    },
  };
}
