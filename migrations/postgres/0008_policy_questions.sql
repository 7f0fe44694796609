-- Questions in a tenant's approval policy: how many an escalation takes (a question beyond
-- them is refused, so a question/answer loop cannot grow an escalation's history without
-- bound), and how long a question waits for its answer before the escalation is pending
-- again (NULL: the policy's default_ttl_seconds). New escalations snapshot both.
ALTER TABLE approval_policies
    ADD COLUMN max_questions      integer NOT NULL DEFAULT 5 CHECK (max_questions BETWEEN 1 AND 100),
    ADD COLUMN answer_ttl_seconds bigint CHECK (answer_ttl_seconds > 0);
