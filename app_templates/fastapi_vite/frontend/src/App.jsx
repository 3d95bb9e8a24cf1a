import Account from "./pages/Account.jsx";
import Home from "./pages/Home.jsx";
import { pageFor } from "./routes.js";

const PAGES = { home: Home, account: Account };

export default function App() {
  const Page = PAGES[pageFor(window.location.pathname, import.meta.env.BASE_URL)];
  return (
    <main style={{ maxWidth: 720, margin: "64px auto", padding: "0 24px", fontFamily: "system-ui, sans-serif" }}>
      {Page ? <Page /> : <><h1>Not found</h1><p><a href={import.meta.env.BASE_URL}>Home</a></p></>}
    </main>
  );
}
