-- Who a connection acts as at the provider: the connecting person's own account there (Slack
-- user in the workspace, Linear user in the organization). Triggers find the Connectors user
-- behind a provider event by it, never by which connection changed last.
alter table "connection" add column if not exists "providerUserId" text;
alter table "connection" add column if not exists "providerUserName" text;
alter table "pendingLink" add column if not exists "providerUserId" text;
alter table "pendingLink" add column if not exists "providerUserName" text;
create index if not exists "connection_provider_identity_idx"
    on "connection" ("provider", "accountId", "providerUserId");
