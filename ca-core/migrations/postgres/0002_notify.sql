-- Every committed write that can change an OCSP or CRL answer is announced on the
-- caforge_writes channel, so each replica's in-memory OCSP cache (keyed by its write mark)
-- is invalidated at once, by whichever replica or CLI wrote. Statement-level triggers:
-- one notification per statement, folded by PostgreSQL to one per transaction.
-- Not announced: audit, serials, crl_numbers, ocsp_responses (caches of answers already
-- correct) and the migrations table.
CREATE FUNCTION caforge_notify_write() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('caforge_writes', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['cas', 'certificates', 'crls', 'blocked_keys', 'ocsp_responders',
                             'certificate_pairs']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION caforge_notify_write()',
                       t || '_notify', t);
    END LOOP;
END
$$;
