-- Better Auth's default PostgreSQL schema (user, session, account, verification, and the JWT
-- plugin's jwks), with its camelCase quoted columns. "if not exists" throughout, so an existing
-- Better Auth database is adopted as it is.

create table if not exists "user" (
    "id" text not null primary key,
    "name" text not null,
    "email" text not null unique,
    "emailVerified" boolean not null default false,
    "image" text,
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp
);

create table if not exists "session" (
    "id" text not null primary key,
    "expiresAt" timestamptz not null,
    "token" text not null unique,
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp,
    "ipAddress" text,
    "userAgent" text,
    "userId" text not null references "user" ("id") on delete cascade
);
-- list-sessions and revoke-other-sessions look sessions up by user.
create index if not exists "session_userId_idx" on "session" ("userId");

create table if not exists "account" (
    "id" text not null primary key,
    "accountId" text not null,
    "providerId" text not null,
    "userId" text not null references "user" ("id") on delete cascade,
    "accessToken" text,
    "refreshToken" text,
    "idToken" text,
    "accessTokenExpiresAt" timestamptz,
    "refreshTokenExpiresAt" timestamptz,
    "scope" text,
    "password" text,
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp
);
create index if not exists "account_userId_idx" on "account" ("userId");
-- Social sign-in finds the account by provider and the provider's account id.
create index if not exists "account_providerId_accountId_idx" on "account" ("providerId", "accountId");

create table if not exists "verification" (
    "id" text not null primary key,
    "identifier" text not null,
    "value" text not null,
    "expiresAt" timestamptz not null,
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp
);
create index if not exists "verification_identifier_idx" on "verification" ("identifier");

create table if not exists "jwks" (
    "id" text not null primary key,
    "publicKey" text not null,
    "privateKey" text not null,
    "createdAt" timestamptz not null default current_timestamp,
    "expiresAt" timestamptz
);
