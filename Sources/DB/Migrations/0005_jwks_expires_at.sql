-- Better Auth added "jwks"."expiresAt" in 1.4. A database its older versions created has a
-- "jwks" table without it, which 0001's "create table if not exists" left as it was.
alter table "jwks" add column if not exists "expiresAt" timestamptz;
