-- The OAuth 2.1 authorization server for MCP clients: Better Auth 1.7's `oauth-provider` tables
-- (with the `mcp` and `cimd` plugins), camelCase quoted columns, list columns as jsonb arrays
-- (what Better Auth's own Kysely adapter creates on PostgreSQL). "if not exists" throughout, so
-- a Better Auth database that already has them is adopted as it is. Secrets and tokens are
-- stored as base64url(SHA-256(value)), as Better Auth stores them.

create table if not exists "oauthClient" (
    "id" text not null primary key,
    "clientId" text not null unique,
    "clientSecret" text,
    "clientDiscoveryId" text,
    "disabled" boolean default false,
    "skipConsent" boolean,
    "enableEndSession" boolean,
    "subjectType" text,
    "scopes" jsonb,
    "clientCredentialsScopes" jsonb,
    "userId" text references "user" ("id") on delete cascade,
    "createdAt" timestamptz,
    "updatedAt" timestamptz,
    "name" text,
    "uri" text,
    "icon" text,
    "contacts" jsonb,
    "tos" text,
    "policy" text,
    "softwareId" text,
    "softwareVersion" text,
    "softwareStatement" text,
    "redirectUris" jsonb not null,
    "postLogoutRedirectUris" jsonb,
    "backchannelLogoutUri" text,
    "backchannelLogoutSessionRequired" boolean,
    "tokenEndpointAuthMethod" text,
    "applicationType" text,
    "jwks" text,
    "jwksUri" text,
    "grantTypes" jsonb,
    "responseTypes" jsonb,
    "requirePKCE" boolean,
    "dpopBoundAccessTokens" boolean default false,
    "referenceId" text,
    "metadata" jsonb
);
create index if not exists "oauthClient_userId_idx" on "oauthClient" ("userId");

create table if not exists "oauthResource" (
    "id" text not null primary key,
    "identifier" text not null unique,
    "name" text not null,
    "accessTokenTtl" integer,
    "refreshTokenTtl" integer,
    "signingAlgorithm" text,
    "signingKeyId" text,
    "allowedScopes" jsonb,
    "customClaims" jsonb,
    "dpopBoundAccessTokensRequired" boolean default false,
    "disabled" boolean default false,
    "createdAt" timestamptz,
    "updatedAt" timestamptz,
    "policyVersion" integer default 1,
    "metadata" jsonb
);

create table if not exists "oauthClientResource" (
    "id" text not null primary key,
    "clientId" text not null references "oauthClient" ("clientId") on delete cascade,
    "resourceId" text not null references "oauthResource" ("identifier") on delete cascade,
    "metadata" jsonb,
    "createdAt" timestamptz
);
create unique index if not exists "oauthClientResource_clientId_resourceId_idx"
    on "oauthClientResource" ("clientId", "resourceId");

create table if not exists "oauthRefreshToken" (
    "id" text not null primary key,
    "token" text not null unique,
    "clientId" text not null references "oauthClient" ("clientId") on delete cascade,
    "sessionId" text references "session" ("id") on delete set null,
    "userId" text not null references "user" ("id") on delete cascade,
    "referenceId" text,
    "authorizationCodeId" text,
    "resources" jsonb,
    "requestedUserInfoClaims" jsonb,
    "expiresAt" timestamptz not null,
    "createdAt" timestamptz not null,
    "revoked" timestamptz,
    "rotatedAt" timestamptz,
    "rotationReplayResponse" text,
    "rotationReplayExpiresAt" timestamptz,
    "authTime" timestamptz,
    "confirmation" jsonb,
    "scopes" jsonb not null
);
create index if not exists "oauthRefreshToken_clientId_idx" on "oauthRefreshToken" ("clientId");
create index if not exists "oauthRefreshToken_userId_idx" on "oauthRefreshToken" ("userId");
create index if not exists "oauthRefreshToken_sessionId_idx" on "oauthRefreshToken" ("sessionId");
create index if not exists "oauthRefreshToken_authorizationCodeId_idx" on "oauthRefreshToken" ("authorizationCodeId");

create table if not exists "oauthAccessToken" (
    "id" text not null primary key,
    "token" text not null unique,
    "clientId" text not null references "oauthClient" ("clientId") on delete cascade,
    "sessionId" text references "session" ("id") on delete set null,
    "userId" text references "user" ("id") on delete cascade,
    "referenceId" text,
    "authorizationCodeId" text,
    "resources" jsonb,
    "requestedUserInfoClaims" jsonb,
    "refreshId" text references "oauthRefreshToken" ("id") on delete cascade,
    "expiresAt" timestamptz not null,
    "createdAt" timestamptz not null,
    "revoked" timestamptz,
    "confirmation" jsonb,
    "scopes" jsonb not null
);
create index if not exists "oauthAccessToken_clientId_idx" on "oauthAccessToken" ("clientId");
create index if not exists "oauthAccessToken_userId_idx" on "oauthAccessToken" ("userId");
create index if not exists "oauthAccessToken_refreshId_idx" on "oauthAccessToken" ("refreshId");
create index if not exists "oauthAccessToken_authorizationCodeId_idx" on "oauthAccessToken" ("authorizationCodeId");

create table if not exists "oauthConsent" (
    "id" text not null primary key,
    "clientId" text not null references "oauthClient" ("clientId") on delete cascade,
    "userId" text references "user" ("id") on delete cascade,
    "referenceId" text,
    "resources" jsonb,
    "requestedUserInfoClaims" jsonb,
    "scopes" jsonb not null,
    "createdAt" timestamptz not null,
    "updatedAt" timestamptz not null
);
create index if not exists "oauthConsent_clientId_idx" on "oauthConsent" ("clientId");
create index if not exists "oauthConsent_userId_idx" on "oauthConsent" ("userId");

-- Ours, not Better Auth's: JWT access tokens are not stored, so revoking a grant (a connected app
-- removed, a replayed code or refresh token) is recorded here until the last token it could
-- have issued has expired. The MCP endpoint reads it: `grantId` revokes the tokens of one
-- authorization (the `sid` claim); without it, every token of the client for the user issued
-- before `revokedAt`.
create table if not exists "oauthGrantRevocation" (
    "id" text not null primary key,
    "clientId" text not null,
    "userId" text not null,
    "grantId" text,
    "revokedAt" timestamptz not null,
    "expiresAt" timestamptz not null
);
create index if not exists "oauthGrantRevocation_revokedAt_idx" on "oauthGrantRevocation" ("revokedAt");
