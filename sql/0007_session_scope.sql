-- A login session's `admin` flag is now its admin scope, as a named token's is (docs/accounts.md,
-- "Credentials"): Conveyor's login opens sessions with it, Project-W's login only with `scope=admin`.
-- Sessions opened before carried the account's rights without the flag; keep them so.
-- Forward-only: never edit this file once landed; add 0007_... instead.

UPDATE api_tokens SET admin = 1 WHERE kind = 'session';
