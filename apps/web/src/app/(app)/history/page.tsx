import type { Metadata } from "next";
import { OrgHistory } from "@/components/org-history.tsx";

export const metadata: Metadata = { title: "History" };

export default function HistoryPage() {
  return <OrgHistory />;
}
