import type { ReactNode } from "react";
import { headers } from "next/headers";
import { Shell } from "@/components/shell.tsx";
import { requireShell } from "@/server/session.ts";

export default async function AppLayout({ children }: { children: ReactNode }) {
  const path = (await headers()).get("x-pathname") ?? "/satellites";
  const data = await requireShell(path);
  return <Shell data={data}>{children}</Shell>;
}
