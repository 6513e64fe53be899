-- The connectors service's tables, in the same naming style.

-- A user's link to one provider account. Tokens are AES-256-GCM sealed (never plaintext),
-- bound to the row's id and provider as additional authenticated data.
create table "connection" (
    "id" text not null primary key,
    "userId" text not null references "user" ("id") on delete cascade,
    "provider" text not null check ("provider" in ('linear', 'github', 'slack')),
    "accountId" text not null,
    "accountName" text,
    "scopes" text[] not null default '{}',
    "status" text not null default 'active' check ("status" in ('active', 'reauth_required', 'revoked')),
    "accessToken" text,
    "refreshToken" text,
    "expiresAt" timestamptz,
    "metadata" jsonb not null default '{}',
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp,
    unique ("userId", "provider", "accountId")
);
-- Listing a user's connections is covered by the unique index (userId first); webhooks find
-- connections by provider account (Slack team, GitHub installation, Linear organization).
create index "connection_provider_accountId_idx" on "connection" ("provider", "accountId");

-- An OAuth callback's result, waiting for the signed-in user to claim it with a one-time code.
-- Only a hash of the code is stored; the connection id is chosen here so the sealed tokens'
-- additional data already names the row they will live in.
create table "pendingLink" (
    "codeHash" text not null primary key,
    "connectionId" text not null,
    "provider" text not null check ("provider" in ('linear', 'github', 'slack')),
    "boundUserId" text references "user" ("id") on delete cascade,
    "accountId" text not null,
    "accountName" text,
    "scopes" text[] not null default '{}',
    "accessToken" text,
    "refreshToken" text,
    "expiresAt" timestamptz,
    "metadata" jsonb not null default '{}',
    "linkExpiresAt" timestamptz not null,
    "createdAt" timestamptz not null default current_timestamp
);
create index "pendingLink_linkExpiresAt_idx" on "pendingLink" ("linkExpiresAt");

-- Verified webhook deliveries: stored before the sender gets its 2xx, processed at least once
-- by the worker. (provider, deliveryKey) is the dedupe key.
create table "webhookEvent" (
    "id" bigint generated always as identity primary key,
    "provider" text not null check ("provider" in ('linear', 'github', 'slack')),
    "deliveryKey" text not null,
    "eventType" text not null,
    "payload" jsonb not null,
    "status" text not null default 'pending' check ("status" in ('pending', 'processing', 'done', 'failed', 'skipped')),
    "attempts" integer not null default 0,
    "lastError" text,
    "availableAt" timestamptz not null default current_timestamp,
    "lockedUntil" timestamptz,
    "lockedBy" text,
    "receivedAt" timestamptz not null default current_timestamp,
    "processedAt" timestamptz,
    unique ("provider", "deliveryKey")
);
-- The worker claims due pending events oldest first, and reclaims expired leases.
create index "webhookEvent_pending_idx" on "webhookEvent" ("availableAt") where "status" = 'pending';
create index "webhookEvent_lease_idx" on "webhookEvent" ("lockedUntil") where "status" = 'processing';

-- One agent run: the prompt, what the model did (tool inputs kept, outputs summarised, never
-- a token), the answer and the token usage.
create table "agentRun" (
    "id" text not null primary key,
    "userId" text not null references "user" ("id") on delete cascade,
    "status" text not null default 'running' check ("status" in ('running', 'completed', 'failed')),
    "trigger" text not null default 'api' check ("trigger" in ('api', 'slack', 'linear', 'mcp')),
    "prompt" text not null,
    "output" text,
    "steps" jsonb not null default '[]',
    "stopReason" text,
    "error" text,
    "inputTokens" integer not null default 0,
    "outputTokens" integer not null default 0,
    "createdAt" timestamptz not null default current_timestamp,
    "updatedAt" timestamptz not null default current_timestamp,
    "finishedAt" timestamptz
);
create index "agentRun_userId_createdAt_idx" on "agentRun" ("userId", "createdAt" desc);
