-- Runs a webhook started (a Slack mention, a Linear session) name the workspace they came
-- from, so one workspace's burst of requests is bounded and cannot take every worker slot.
alter table "agentRun" add column "workspace" text;
create index "agentRun_running_workspace_idx" on "agentRun" ("workspace")
    where "status" = 'running' and "workspace" is not null;
