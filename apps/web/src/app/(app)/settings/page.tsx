import type { Metadata } from "next";
import { SettingsPage } from "@/components/org-settings.tsx";

export const metadata: Metadata = { title: "Settings" };

export default function Page() {
  return <SettingsPage />;
}
