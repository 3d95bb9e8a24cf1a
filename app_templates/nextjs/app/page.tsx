export default function Home() {
  return (
    <main style={{ maxWidth: 720, margin: "64px auto", padding: "0 24px" }}>
      <h1>__APP_NAME__</h1>
      <p>Your app is running. Describe what it should do in the MGX chat and the team will build it here.</p>
    </main>
  );
}
