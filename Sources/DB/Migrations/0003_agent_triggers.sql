-- Runs started by a webhook (a Slack mention, a Linear agent session) carry the event that
-- started them, so a redelivered or retried event reuses its run instead of answering twice;
-- "deliveredAt" records that the answer reached the provider.
alter table "agentRun" add column "triggerKey" text;
alter table "agentRun" add column "deliveredAt" timestamptz;
create unique index "agentRun_triggerKey_idx" on "agentRun" ("triggerKey") where "triggerKey" is not null;
