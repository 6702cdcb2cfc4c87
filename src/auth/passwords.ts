import argon2 from 'argon2';

/**
 * argon2id with OWASP's recommended minimum cost (19 MiB, 2 passes, 1 lane):
 * slow enough to make offline guessing expensive, light enough for a 2-core box.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string) => argon2.hash(password, OPTIONS);

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false; // a malformed stored hash never verifies
  }
}

/** Verifying against this when the user does not exist keeps the timing of both answers alike. */
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = () => (dummyHash ??= hashPassword('not-a-real-password-' + Math.random()));
