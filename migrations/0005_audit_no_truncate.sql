-- Row triggers do not fire on TRUNCATE: refuse it too, so the audit trail stays append-only.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
