-- Lifecycle events (uninstalls, revocations, suspensions) are claimed by a worker loop of their
-- own, so a burst of slow agent-run events cannot hold them for hours. The receiver records
-- which loop takes an event; claims walk the pending index of their lane alone.
alter table "webhookEvent" add column "lane" text not null default 'standard'
    check ("lane" in ('standard', 'lifecycle'));
drop index "webhookEvent_pending_idx";
create index "webhookEvent_pending_idx" on "webhookEvent" ("lane", "availableAt", "id") where "status" = 'pending';
