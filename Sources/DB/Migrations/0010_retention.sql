-- Retention sweeps find old rows by age. BRIN indexes cost next to nothing to keep (rows arrive
-- in time order) and let a sweep skip every block of younger rows.
create index "webhookEvent_receivedAt_brin" on "webhookEvent" using brin ("receivedAt");
create index "agentRun_createdAt_brin" on "agentRun" using brin ("createdAt");
-- The auth service deletes expired sessions daily.
create index "session_expiresAt_idx" on "session" ("expiresAt");
