// The seed's hot path the way its runtime does it, with Bun's built-ins only: the anchor
// `make bench` measures `GET /oauth/connections` against. Per request: RS256 verification with
// WebCrypto (keys imported once per kid from the auth service's JWKS), the per-user rate limit
// as Redis INCR (+ EXPIRE on the first hit), one indexed PostgreSQL query on a table of its own,
// and the JSON answer. `GET /health` answers a constant body.
import { RedisClient, SQL } from "bun";

const env = process.env;
const port = Number(env.PORT ?? 8090);
const jwksURL = env.JWKS_URL!;
const issuer = env.JWT_ISSUER!;
const limit = Number(env.USER_RATE_LIMIT ?? 1_000_000);
const sql = new SQL(env.DATABASE_URL!);
const redis = new RedisClient(env.REDIS_URL!);

const keys = new Map<string, CryptoKey>();
async function keyFor(kid: string): Promise<CryptoKey | undefined> {
  const known = keys.get(kid);
  if (known) return known;
  const { keys: jwks } = (await (await fetch(jwksURL)).json()) as { keys: (JsonWebKey & { kid: string })[] };
  for (const jwk of jwks) {
    keys.set(jwk.kid, await crypto.subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]));
  }
  return keys.get(kid);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const base64url = (part: string) => Buffer.from(part, "base64url");

/** The token's subject, or undefined when it is not a valid RS256 JWT from the issuer. */
async function subject(authorization: string | null): Promise<string | undefined> {
  if (!authorization?.startsWith("Bearer ")) return undefined;
  const [head, body, signature] = authorization.slice(7).split(".");
  if (!head || !body || !signature) return undefined;
  try {
    const header = JSON.parse(decoder.decode(base64url(head)));
    if (header.alg !== "RS256" || typeof header.kid !== "string") return undefined;
    const key = await keyFor(header.kid);
    if (!key) return undefined;
    const valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, base64url(signature), encoder.encode(`${head}.${body}`));
    if (!valid) return undefined;
    const claims = JSON.parse(decoder.decode(base64url(body)));
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp + 60 < now) return undefined;
    if (claims.iss !== issuer || (claims.aud !== issuer && !(Array.isArray(claims.aud) && claims.aud.includes(issuer)))) return undefined;
    return typeof claims.sub === "string" && claims.sub ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

const error = (status: number, code: string, message: string) => Response.json({ code, message }, { status });

Bun.serve({
  port,
  hostname: "127.0.0.1",
  routes: {
    "/health": () => Response.json({ status: "ok" }),
    "/oauth/connections": async (request) => {
      const userId = await subject(request.headers.get("authorization"));
      if (!userId) return error(401, "UNAUTHORIZED", "A valid bearer token is required.");
      const counter = `bench-bun:rate:${userId}`;
      const count = await redis.incr(counter);
      if (count === 1) await redis.expire(counter, 60);
      if (count > limit) return error(429, "RATE_LIMITED", "Too many requests.");
      const connections = await sql`
        SELECT "id", "provider", "accountId", "accountName", "providerUserId", "providerUserName", "scopes",
               "status", "statusReason", "expiresAt", "createdAt", "updatedAt"
        FROM "bench_bun_connection" WHERE "userId" = ${userId} ORDER BY "createdAt"`;
      return Response.json({ connections });
    },
  },
  fetch: () => error(404, "NOT_FOUND", "No such route."),
});
console.log(`bun anchor on 127.0.0.1:${port}`);
