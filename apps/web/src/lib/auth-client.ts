"use client";
// better-auth's browser client: sign-up, sign-in, sign-out against /api/auth (same origin).
import { createAuthClient } from "better-auth/react";

export const authClient = createAuthClient();
