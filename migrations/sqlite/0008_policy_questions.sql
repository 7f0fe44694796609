-- Questions in a tenant's approval policy (see the PostgreSQL migration).
ALTER TABLE approval_policies ADD COLUMN max_questions INTEGER NOT NULL DEFAULT 5 CHECK (max_questions BETWEEN 1 AND 100);
ALTER TABLE approval_policies ADD COLUMN answer_ttl_seconds INTEGER CHECK (answer_ttl_seconds > 0);
