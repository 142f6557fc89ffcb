-- caforge schema v14 (SQLite): token scopes, audit principals, roots without leaves.
-- A token's rights become scopes (ca_core::authz::Scope, a JSON array). What a token could
-- do before is written as two scopes, so it keeps exactly those rights: issue under its
-- CAs and profiles; read and revoke certificates of its CAs under any profile.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
UPDATE api_tokens SET scopes = json_array(
    json_object('cas', json(cas), 'profiles', json(profiles),
                'actions', json_array('issue'), 'names', json_array('*')),
    json_object('cas', json(cas), 'profiles', json_array('*'),
                'actions', json_array('revoke', 'read'), 'names', json_array('*')));
ALTER TABLE api_tokens DROP COLUMN cas;
ALTER TABLE api_tokens DROP COLUMN profiles;
-- Every audit entry names who acted (ca_core::authz::Principal); entries written before
-- this have none, and their hashes do not cover one.
ALTER TABLE audit ADD COLUMN principal TEXT;
-- Roots sign no end-entity certificates unless configured to (ca_core::revocation::
-- CaSettings::allow_leaves). A root that has signed one already keeps doing so.
ALTER TABLE cas ADD COLUMN allow_leaves INTEGER NOT NULL DEFAULT 0;
UPDATE cas SET allow_leaves = 1
 WHERE parent_id IS NULL
   AND EXISTS (SELECT 1 FROM certificates c
                WHERE c.issuer_ca_id = cas.id AND c.profile NOT IN ('ca', 'ocsp-signing'));
