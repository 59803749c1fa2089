-- Cases: when the first outcome was reached (the SLA clock stops there), known states
-- only; alerts: when they were labelled; restrictions: known kinds, and found by case.
ALTER TABLE cases ADD COLUMN decided_at timestamptz;
ALTER TABLE cases ADD CONSTRAINT cases_state_known CHECK (
    state IN ('open', 'investigating', 'cleared', 'escalated', 'restricted', 'closed'));
CREATE INDEX cases_undecided_due ON cases (due_at) WHERE decided_at IS NULL;
CREATE INDEX cases_assignee ON cases (assignee);

ALTER TABLE alerts ADD COLUMN labelled_at timestamptz;

ALTER TABLE restrictions ADD CONSTRAINT restrictions_kind_known CHECK (
    kind IN ('lower_limits', 'withdrawal_freeze', 'document_request', 'withdrawal_cooling_off'));
CREATE INDEX restrictions_case ON restrictions (case_id);
