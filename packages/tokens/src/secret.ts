// The two building blocks every kind of token shares: uniformly random base62 text, and the
// SHA-256 that is all the database keeps (a fast hash is right for 190+ bits of randomness:
// there is nothing to brute force).
import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniformly distributed.
  let body = "";
  while (body.length < length) {
    for (const b of randomBytes(length + 16)) {
      if (b < 248 && body.length < length) body += ALPHABET[b % 62];
    }
  }
  return body;
}
