-- What each person lets the agent do per tool: absent means the default for the tool's risk
-- (read → allow, write → ask).
create table "agentToolPolicy" (
    "userId" text not null references "user" ("id") on delete cascade,
    "tool" text not null,
    "policy" text not null check ("policy" in ('allow', 'ask', 'deny')),
    "updatedAt" timestamptz not null default current_timestamp,
    primary key ("userId", "tool")
);

-- A run can wait for a person: it is then stored whole ("state": the conversation so far and
-- the calls waiting), holding no request and no worker. "lockedUntil" is the lease of whoever
-- is running it, so a run whose process died is neither counted as running nor lost.
alter table "agentRun" drop constraint if exists "agentRun_status_check";
alter table "agentRun" add constraint "agentRun_status_check"
    check ("status" in ('running', 'awaiting_approval', 'completed', 'failed'));
alter table "agentRun" add column "state" jsonb;
alter table "agentRun" add column "replyTo" jsonb;
alter table "agentRun" add column "lockedBy" text;
alter table "agentRun" add column "lockedUntil" timestamptz;
create index "agentRun_awaiting_idx" on "agentRun" ("updatedAt") where "status" = 'awaiting_approval';
create index "agentRun_running_idx" on "agentRun" ("userId") where "status" = 'running';

-- One tool call waiting for its owner's decision. "executedAt" is set just before an approved
-- call is made, so a resumed run never makes it twice.
create table "agentApproval" (
    "id" text not null primary key,
    "runId" text not null references "agentRun" ("id") on delete cascade,
    "userId" text not null references "user" ("id") on delete cascade,
    "toolUseId" text not null,
    "tool" text not null,
    "input" jsonb not null,
    "status" text not null default 'pending' check ("status" in ('pending', 'approved', 'denied', 'expired')),
    "decidedBy" text,
    "createdAt" timestamptz not null default current_timestamp,
    "expiresAt" timestamptz not null,
    "decidedAt" timestamptz,
    "executedAt" timestamptz
);
create index "agentApproval_pending_user_idx" on "agentApproval" ("userId", "createdAt") where "status" = 'pending';
create index "agentApproval_pending_expiry_idx" on "agentApproval" ("expiresAt") where "status" = 'pending';
create index "agentApproval_runId_idx" on "agentApproval" ("runId");

-- The audit trail: what was done, for whom, from where, with what outcome. Append-only: rows
-- are never updated, and deleted only by the retention purge (which says so in its
-- transaction). No foreign key: the record outlives the user and the run it names.
create table "auditEvent" (
    "id" bigint generated always as identity primary key,
    "at" timestamptz not null default current_timestamp,
    "userId" text not null,
    "surface" text not null check ("surface" in ('api', 'slack', 'linear', 'mcp', 'system')),
    "clientId" text,
    "runId" text,
    "action" text not null,
    "tool" text,
    "target" text,
    "inputSummary" text check (char_length("inputSummary") <= 300),
    "outcome" text not null,
    "actor" text,
    "decidedBy" text,
    "durationMs" integer
);
create index "auditEvent_userId_id_idx" on "auditEvent" ("userId", "id" desc);
create index "auditEvent_at_idx" on "auditEvent" ("at");

create function "auditEvent_append_only"() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and current_setting('connectors.audit_purge', true) = 'on'
        and old."at" < now() - interval '1 day' then
        return old;
    end if;
    raise exception 'auditEvent is append-only (% refused)', tg_op;
end
$$;
create trigger "auditEvent_append_only" before update or delete on "auditEvent"
    for each row execute function "auditEvent_append_only"();
