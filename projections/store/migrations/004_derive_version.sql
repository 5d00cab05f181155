-- Which version of the fold's `derive` made the rows of the derived tables.
-- Rows stored before this table existed were made by version 1; an empty read
-- model gets no row here, and the first worker writes the version it derives by.
CREATE TABLE IF NOT EXISTS derive_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO derive_version (version)
SELECT 1 WHERE EXISTS (SELECT 1 FROM participant_state)
ON CONFLICT DO NOTHING;
