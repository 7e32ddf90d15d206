-- A database that looks like Kong 2.8's (traditional mode): schema_meta, locks and entity tables
-- with created_at/updated_at and the foreign keys Kong uses.  Run as a superuser with
-- `psql -v rows=N -f kong_fixture.sql`; the objects are owned by the role kong.
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 200
\endif
SET ROLE kong;

CREATE TABLE IF NOT EXISTS schema_meta (
  key TEXT, subsystem TEXT, last_executed TEXT, executed TEXT[], pending TEXT[],
  PRIMARY KEY (key, subsystem));
CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, owner TEXT, ttl TIMESTAMP WITH TIME ZONE);
CREATE INDEX IF NOT EXISTS locks_ttl_idx ON locks (ttl);
CREATE TABLE IF NOT EXISTS workspaces (
  id UUID PRIMARY KEY, name TEXT UNIQUE, comment TEXT, created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
  meta JSONB, config JSONB);
CREATE TABLE IF NOT EXISTS services (
  id UUID PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE, updated_at TIMESTAMP WITH TIME ZONE,
  name TEXT, retries BIGINT, protocol TEXT, host TEXT, port BIGINT, path TEXT,
  connect_timeout BIGINT, write_timeout BIGINT, read_timeout BIGINT, tags TEXT[],
  ws_id UUID REFERENCES workspaces (id), UNIQUE (ws_id, name));
CREATE TABLE IF NOT EXISTS routes (
  id UUID PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE, updated_at TIMESTAMP WITH TIME ZONE,
  name TEXT, service_id UUID REFERENCES services (id), protocols TEXT[], methods TEXT[], hosts TEXT[],
  paths TEXT[], strip_path BOOLEAN, preserve_host BOOLEAN, regex_priority BIGINT, tags TEXT[],
  ws_id UUID REFERENCES workspaces (id));
CREATE INDEX IF NOT EXISTS routes_service_id_idx ON routes (service_id);
CREATE TABLE IF NOT EXISTS consumers (
  id UUID PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE, username TEXT, custom_id TEXT, tags TEXT[],
  ws_id UUID REFERENCES workspaces (id));
CREATE TABLE IF NOT EXISTS plugins (
  id UUID PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE, name TEXT NOT NULL,
  consumer_id UUID REFERENCES consumers (id) ON DELETE CASCADE,
  service_id UUID REFERENCES services (id) ON DELETE CASCADE,
  route_id UUID REFERENCES routes (id) ON DELETE CASCADE,
  config JSONB NOT NULL, enabled BOOLEAN NOT NULL, cache_key TEXT UNIQUE, protocols TEXT[], tags TEXT[],
  ws_id UUID REFERENCES workspaces (id));
CREATE TABLE IF NOT EXISTS cluster_events (
  id UUID PRIMARY KEY, node_id UUID NOT NULL, at TIMESTAMP WITH TIME ZONE NOT NULL, nbf TIMESTAMP WITH TIME ZONE,
  expire_at TIMESTAMP WITH TIME ZONE NOT NULL, channel TEXT, data TEXT);

INSERT INTO schema_meta VALUES
  ('schema_meta', 'core', '015_270_to_280',
   ARRAY['000_base','003_100_to_110','004_110_to_120','005_120_to_130','006_130_to_140','007_140_to_150',
         '008_150_to_200','009_200_to_210','010_210_to_211','011_212_to_213','012_213_to_220','013_220_to_230',
         '014_230_to_270','015_270_to_280'], NULL),
  ('schema_meta', 'acl', '004_212_to_213', ARRAY['000_base_acl','002_130_to_140','003_200_to_210','004_212_to_213'], NULL),
  ('schema_meta', 'key-auth', '003_200_to_210', ARRAY['000_base_key_auth','002_130_to_140','003_200_to_210'], NULL)
ON CONFLICT DO NOTHING;

INSERT INTO workspaces (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'default') ON CONFLICT DO NOTHING;

INSERT INTO services
SELECT md5('svc' || g)::uuid, now() - g * interval '1 minute', now(), 'service-' || g, 5, 'http',
       'upstream-' || g || '.internal', 80, '/api/' || g, 60000, 60000, 60000, ARRAY['fixture'],
       '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :rows) g ON CONFLICT DO NOTHING;
INSERT INTO routes
SELECT md5('route' || g)::uuid, now(), now(), 'route-' || g, md5('svc' || (1 + g % :rows))::uuid,
       ARRAY['http','https'], NULL, NULL, ARRAY['/r/' || g, '/v1/items/\d+/' || g], true, false, 0, NULL,
       '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :rows * 2) g ON CONFLICT DO NOTHING;
INSERT INTO consumers
SELECT md5('consumer' || g)::uuid, now(), 'user-' || g, NULL, NULL, '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :rows) g ON CONFLICT DO NOTHING;
INSERT INTO plugins
SELECT md5('plugin' || g)::uuid, now(), 'rate-limiting', NULL, md5('svc' || (1 + g % :rows))::uuid, NULL,
       jsonb_build_object('minute', g, 'policy', 'local', 'comment', repeat('x', 200)), true,
       'plugins:rate-limiting::' || g, ARRAY['http'], NULL, '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :rows) g ON CONFLICT DO NOTHING;
RESET ROLE;
