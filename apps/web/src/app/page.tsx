import { redirect } from "next/navigation";
import { currentSession } from "@/server/session.ts";

export default async function Home() {
  redirect((await currentSession()) ? "/satellites" : "/sign-in");
}
