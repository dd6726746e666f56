-- The debtor page's forms send back a per-link random nonce (CSRF): links made before this
-- migration get one here, new links when they are made.
ALTER TABLE pay_links ADD COLUMN form_nonce TEXT;
UPDATE pay_links SET form_nonce = lower(hex(randomblob(16))) WHERE form_nonce IS NULL;
