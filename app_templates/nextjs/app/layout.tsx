export const metadata = { title: "__APP_NAME__" };

// MGX's preview script (lib/mgx-dev/): only in the dev server, never in a production build, where
// NODE_ENV is "production" and the bundler drops this require. Keep it.
const MgxPreview: () => null = process.env.NODE_ENV === "development"
  ? require("@/lib/mgx-dev/preview-next").default
  : () => null;

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", margin: 0 }}>
        {children}
        <MgxPreview />
      </body>
    </html>
  );
}
