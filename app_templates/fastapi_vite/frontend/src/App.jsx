import { useEffect, useState } from "react";

export default function App() {
  const [health, setHealth] = useState("checking…");
  useEffect(() => {
    fetch(`${import.meta.env.BASE_URL}api/health`)
      .then((r) => r.json())
      .then((body) => setHealth(body.status))
      .catch(() => setHealth("unreachable"));
  }, []);
  return (
    <main style={{ maxWidth: 720, margin: "64px auto", padding: "0 24px", fontFamily: "system-ui, sans-serif" }}>
      <h1>__APP_NAME__</h1>
      <p>Your app is running. Describe what it should do in the MGX chat and the team will build it here.</p>
      <p>API: {health}</p>
    </main>
  );
}
