-- One line per user table: schema.table|row count|md5 over the sorted md5 of every row.
-- Independent of the modules' own code, so the tests compare with a second implementation.
SELECT n.nspname || '.' || c.relname
       || '|' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                                                       false, true, '')))[1]::text
       || '|' || (xpath('/row/m/text()', query_to_xml(format(
                    'SELECT md5(coalesce(string_agg(h, '''' ORDER BY h), '''')) AS m FROM (SELECT md5(t::text) AS h FROM %I.%I t) s',
                    n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 1;
