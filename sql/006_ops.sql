-- Operations: counts of the audit by kind, for the metrics endpoint. The ingest's role may not
-- read reveal_audit; this function hands it counts only, never a row.
CREATE FUNCTION vaultline_audit_counts() RETURNS TABLE (kind text, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT kind, count(*) FROM reveal_audit GROUP BY kind
$$;
-- A definer function resolves names in our schema only, never in a caller's temporary schema.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION vaultline_audit_counts() SET search_path = pg_catalog, %I, pg_temp',
        current_schema());
END
$$;
REVOKE ALL ON FUNCTION vaultline_audit_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vaultline_audit_counts() TO vaultline_ingest, vaultline_auditor;
