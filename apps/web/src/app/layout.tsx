import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Providers } from "@/lib/trpc.tsx";
import "./globals.css";

// Every page depends on who is signed in: nothing is prerendered at build time.
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: { default: "Satellites", template: "%s · Satellites" },
  description: "Remote build machines that sleep when idle and wake on demand.",
  icons: { icon: "/icon.svg" },
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen">
        <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow">
          Skip to content
        </a>
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
