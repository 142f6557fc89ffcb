-- caforge schema v10 (PostgreSQL): token scopes and audit principals (see the SQLite
-- migration 0014 for what they mean). Old tokens keep exactly their rights: issue under
-- their CAs and profiles; read and revoke certificates of their CAs under any profile.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
UPDATE api_tokens SET scopes = json_build_array(
    json_build_object('cas', cas::json, 'profiles', profiles::json,
                      'actions', json_build_array('issue'), 'names', json_build_array('*')),
    json_build_object('cas', cas::json, 'profiles', json_build_array('*'),
                      'actions', json_build_array('revoke', 'read'), 'names', json_build_array('*')))::text;
ALTER TABLE api_tokens DROP COLUMN cas, DROP COLUMN profiles;
ALTER TABLE audit ADD COLUMN principal TEXT;
-- Roots sign no end-entity certificates unless configured to (ca_core::revocation::
-- CaSettings::allow_leaves). A root that has signed one already keeps doing so.
ALTER TABLE cas ADD COLUMN allow_leaves BIGINT NOT NULL DEFAULT 0;
UPDATE cas SET allow_leaves = 1
 WHERE parent_id IS NULL
   AND EXISTS (SELECT 1 FROM certificates c
                WHERE c.issuer_ca_id = cas.id AND c.profile NOT IN ('ca', 'ocsp-signing'));
