-- Claims take pending events in ("availableAt", "id") order. With the index on "availableAt"
-- alone PostgreSQL had to read and sort the whole due backlog for every claim; with both
-- columns it walks the index and stops after the batch.
drop index "webhookEvent_pending_idx";
create index "webhookEvent_pending_idx" on "webhookEvent" ("availableAt", "id") where "status" = 'pending';
