-- Why a connection needs the person to connect again (shown beside its status).
alter table "connection" add column if not exists "statusReason" text;
