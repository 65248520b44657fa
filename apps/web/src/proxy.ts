// Next.js proxy (formerly middleware): tells server components which path was asked for, so
// a signed-out visitor is sent to sign-in and then back to where they were going.
import { type NextRequest, NextResponse } from "next/server";

export function proxy(request: NextRequest) {
  const headers = new Headers(request.headers);
  headers.set("x-pathname", request.nextUrl.pathname + request.nextUrl.search);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  // Pages only: not the API, not static assets.
  matcher: ["/((?!api/|_next/|icon.svg|favicon.ico).*)"],
};
