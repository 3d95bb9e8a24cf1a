"use client";
// MGX's preview script in Next.js: dev only (app/layout.tsx loads this module only when
// NODE_ENV is "development"; next.config.mjs gives the client MGX's origin only in `next dev`).
// Keep this file. Compile errors do not reach the page as errors (Next keeps the last good page
// and shows its overlay), so this listens to the dev server's own build messages: the HMR
// websocket says "building", then "built" or "sync" with the errors, if any.
import { startPreview } from "./preview.js";

if (typeof window !== "undefined") {
  const base = process.env.MGX_BASE_PATH || "";
  const preview = startPreview({ mgxOrigin: process.env.MGX_PREVIEW_ORIGIN || "", base });
  let delay = 1000;
  const listen = () => {
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${base}/_next/webpack-hmr`);
    socket.onopen = () => { delay = 1000; };
    socket.onmessage = (event) => {
      let message: { action?: string; errors?: { message?: string }[] };
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.action === "building") preview.updating();
      if (message.action !== "built" && message.action !== "sync") return;
      const error = message.errors && message.errors[0];
      if (error) {
        const text = String(error.message || "").replace(/\u001b\[[0-9;]*m/g, "");
        preview.error(`Compile error: ${text}`, (text.match(/^\.\/(\S+?:\d+)/) || [])[1] || "");
      } else {
        setTimeout(preview.settled, 300); // the update (or the first render) is applied by then
      }
    };
    socket.onclose = () => { setTimeout(listen, delay); delay = Math.min(delay * 2, 15000); };
  };
  if (preview.active) listen();
}

export default function MgxPreview() {
  return null;
}
